"""The wave publisher: a rollout's requests of one wave, published within its pacing.

Publishing a wave respects its pacing (in-flight slots and rate per region, leases in
Redis that may be forgotten) and keeps a cursor in the current wave, so a big wave is not
rescanned from its first target on every tick. The requests pacing admits go out in
batches of up to BATCH: their sequences in one Redis round trip, their publishes with one
window of confirms, their marks in the rollout book in one statement, committed before the
next batch is published. A crash leaves at most one batch published and unmarked: a
restarted controller publishes it again, and the workers' idempotency record (per change
and target) applies each once. The `Driver` decides when a wave is published; this
carries it out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import redis
from opentelemetry.trace import SpanKind

from broker_config.redis_keys import inflight_key, rate_key
from contracts import ChangeRequest, DesiredState
from contracts.changes import utcnow
from contracts.controller_signatures import SignatureRefused, check_state
from contracts.telemetry import ATTR_CHANGE_ID, ATTR_WAVE, span_from
from contracts.truth import RenderedState
from producers.counters.pacing import Pacer
from producers.counters.sequences import next_sequences
from producers.errors import PublishError
from producers.messaging.publisher import Publisher
from producers.pull.assignments import Assignments
from producers.rollouts.in_flight import InFlight
from producers.rollouts.store import Rollout, RolloutBook
from producers.truth.revisions import RevisionStore

INTERNAL = SpanKind.INTERNAL

#: How long a request lives when its event sets no deadline.
REQUEST_TTL = timedelta(hours=1)
#: Requests published (and marked) together: one Redis, one confirm and one database round
#: trip each, where one request at a time took four round trips per request.
BATCH = 100


class WavePublisher:
    """Publishes waves of loaded rollouts; holds what each published and where it stands."""

    def __init__(
        self,
        client: redis.Redis,
        book: RolloutBook,
        publisher: Publisher,
        truth: RevisionStore,
        assignments: Assignments,
        in_flight: InFlight,
    ) -> None:
        self.redis = client
        self.book = book
        self.publisher = publisher
        self.truth = truth
        self.pacer = Pacer(client)
        self.assignments = assignments
        self.in_flight = in_flight
        #: Per rollout: the targets published so far (loaded with the rollout).
        self.published: dict[str, set[str]] = {}
        #: Per rollout: (wave, position) before which every target of that wave is published.
        self._cursor: dict[str, tuple[int, int]] = {}
        #: Per rollout: the regions of its targets (a wave stops scanning when all wait).
        self._regions_of: dict[str, tuple[int, frozenset[str]]] = {}

    def forget(self, change_id: str) -> None:
        self.published.pop(change_id, None)
        self._cursor.pop(change_id, None)
        self._regions_of.pop(change_id, None)

    def publish(self, rollout: Rollout, index: int) -> None:
        """Publish what pacing allows of the wave, from the first target not yet published."""
        event = rollout.event
        assert event is not None
        change_id = rollout.change_id
        targets = rollout.plan.waves[index].targets
        published = self.published[change_id]
        cursor_wave, start = self._cursor.get(change_id, (index, 0))
        if cursor_wave != index:
            start = 0
        while start < len(targets) and targets[start] in published:
            start += 1
        self._cursor[change_id] = (index, start)
        now = utcnow()
        expires = min(now + REQUEST_TTL, event.deadline) if event.deadline else now + REQUEST_TTL
        desired = DesiredState(resources=event.resources)
        attributes = {ATTR_CHANGE_ID: change_id, ATTR_WAVE: index + 1}
        with (
            span_from(rollout.trace, "provision wave", attributes=attributes, kind=INTERNAL),
            self.book.publishing(change_id) as mark,
        ):
            self._publish_from(rollout, index, targets[start:], desired, now, expires, mark)

    def _publish_from(
        self,
        rollout: Rollout,
        index: int,
        targets: Sequence[str],
        desired: DesiredState,
        now: datetime,
        expires: datetime,
        mark: Callable[[Sequence[str]], list[str]],
    ) -> None:
        """Publish `targets` in order, each within its region's pacing, in batches; `mark`
        records a batch."""
        event = rollout.event
        assert event is not None
        policy = event.rollout
        change_id = rollout.change_id
        published = self.published[change_id]
        blocked: set[str] = set()
        regions = self._regions(rollout, index)
        lease_s = (expires - now).total_seconds() + 60
        batch: list[str] = []
        for target_id in targets:
            if len(blocked) == len(regions):
                break  # every region waits for slots: the rest of the wave is not scanned
            target = rollout.targets[target_id]
            if target_id in published or target.region in blocked:
                continue
            slot = inflight_key(change_id, target.region)
            if policy.max_in_flight and not self.pacer.acquire(
                slot, target_id, policy.max_in_flight, lease_s
            ):
                blocked.add(target.region)
                continue
            if (
                policy.rate_per_s
                and self.pacer.wait_s(rate_key(change_id, target.region), policy.rate_per_s) > 0
            ):
                if policy.max_in_flight:
                    self.pacer.release(slot, target_id)
                blocked.add(target.region)
                continue
            if rollout.revision is not None and not event.dry_run:
                self.assignments.assign(target_id, rollout.revision, change_id)
            batch.append(target_id)
            if len(batch) >= BATCH:
                self._send(rollout, batch, desired, expires, mark)
                batch = []
        if batch:
            self._send(rollout, batch, desired, expires, mark)

    def _send(
        self,
        rollout: Rollout,
        batch: list[str],
        desired: DesiredState,
        expires: datetime,
        mark: Callable[[Sequence[str]], list[str]],
    ) -> None:
        """Publish one batch's push requests (confirmed), then mark the whole batch."""
        event = rollout.event
        assert event is not None
        change_id = rollout.change_id
        pushed = [t for t in batch if rollout.targets[t].delivery == "push"]
        if pushed:
            sequences = next_sequences(self.redis, pushed)
            self.publisher.publish_all(
                ChangeRequest(
                    change_id=change_id,
                    target=rollout.targets[target_id],
                    desired=self._desired(rollout, target_id, desired),
                    issued_by=event.issued_by,
                    issued_at=utcnow(),  # when it is sent: the worker measures the queue wait
                    expires_at=expires,
                    dry_run=event.dry_run,
                    revision=rollout.revision,
                    sequence=sequences[target_id],
                )
                for target_id in pushed
            )
            for target_id in pushed:
                self.in_flight.published(change_id, target_id, rollout.targets[target_id].region)
        mark(batch)  # committed before the next batch is published
        self.published[change_id].update(batch)

    def _regions(self, rollout: Rollout, index: int) -> frozenset[str]:
        """The regions of one wave's targets, computed once per wave of a loaded rollout."""
        cached = self._regions_of.get(rollout.change_id)
        if cached is None or cached[0] != index:
            wave = rollout.plan.waves[index].targets
            cached = (index, frozenset(rollout.targets[t].region for t in wave))
            self._regions_of[rollout.change_id] = cached
        return cached[1]

    def _desired(self, rollout: Rollout, target_id: str, inline: DesiredState) -> DesiredState:
        """What a push request carries: the revision's stored rendering, or the inline state.

        Push and pull read the same stored bytes, so they deliver the very same state. The
        bytes must carry the controller's signature made when they were rendered: bytes
        edited in the database are never signed again into a request (PublishError: the
        rollout halts with the reason).
        """
        if rollout.revision is None:
            return inline
        raw = self.truth.rendered(rollout.revision, target_id)
        key = self.publisher.key
        if key is None:
            raise PublishError("no controller key: rendered states cannot be checked")
        signature = self.truth.signature(rollout.revision, target_id)
        try:
            check_state(key.public_key(), target_id, rollout.revision, raw, signature)
        except SignatureRefused as exc:
            raise PublishError(str(exc)) from exc
        return RenderedState.model_validate_json(raw).desired_state()
