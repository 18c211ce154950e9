"""The rollout driver: what each active rollout does next, and doing it.

The decision (`steps.next_step`) is pure, so every rule of a rollout (deadline, error budget,
pause between waves, completion) is table-tested in-process; `Driver` only reads the
rollout's state from the system of record, asks `next_step`, and carries the step out.
Publishing a wave respects its pacing (in-flight slots and rate per region, leases in
Redis that may be forgotten) and keeps a cursor in the current wave, so a big wave is not
rescanned from its first target on every tick.

A wave's counts are the current outcomes the aggregator stored in PostgreSQL, so emptying
Redis loses none. Reading them is one query per rollout, made again when an outcome copy
for that rollout arrives (`noted`): never more often than COUNTS_MIN_AGE_S, nor so often
that reading takes more than COUNTS_TIME_SHARE of the time, and at least every
COUNTS_MAX_AGE_S (the copy may come before the aggregator's commit).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import redis
from opentelemetry.trace import SpanKind

from broker_config.redis_keys import inflight_key, rate_key
from contracts import ChangeRequest, DesiredState, OutcomeEvent
from contracts.changes import utcnow
from contracts.controller_signatures import SignatureRefused, check_state
from contracts.events import RolloutState
from contracts.telemetry import ATTR_CHANGE_ID, ATTR_STATUS, ATTR_WAVE, span_from
from contracts.truth import RenderedState
from producers.counters.pacing import Pacer
from producers.counters.sequences import next_sequences
from producers.errors import PublishError
from producers.messaging.failures import infrastructure
from producers.messaging.publisher import Publisher
from producers.pull.assignments import Assignments
from producers.rollouts.in_flight import InFlight
from producers.rollouts.steps import next_step
from producers.rollouts.store import Rollout, RolloutBook
from producers.store.rollout_status import ACTIVE, Head
from producers.truth.revisions import RevisionStore

log = logging.getLogger("provision.controller")
INTERNAL = SpanKind.INTERNAL

#: How long a request lives when its event sets no deadline.
REQUEST_TTL = timedelta(hours=1)
#: A rollout's cached counts are read again at least this often...
COUNTS_MAX_AGE_S = 0.5
#: ...and, however many outcome copies arrive, at most this often...
COUNTS_MIN_AGE_S = 0.05
#: ...nor so often that reading them takes more than this share of the controller's time
#: (the counts of a 10,000-target rollout take some 15 ms to read).
COUNTS_TIME_SHARE = 0.1
#: The one state from which the driver moves a rollout.
RUN = (RolloutState.RUNNING,)


class Driver:
    """Advances every active rollout; holds the loaded rollouts, what each published, and
    each one's wave counts (a cache of the system of record)."""

    def __init__(
        self,
        client: redis.Redis,
        book: RolloutBook,
        publisher: Publisher,
        truth: RevisionStore,
        assignments: Assignments,
    ) -> None:
        self.redis = client
        self.book = book
        self.publisher = publisher
        self.truth = truth
        self.pacer = Pacer(client)
        self.assignments = assignments
        self._cache: dict[str, Rollout] = {}
        self._published: dict[str, set[str]] = {}
        #: Per rollout: (wave, position) before which every target of that wave is published.
        self._cursor: dict[str, tuple[int, int]] = {}
        #: Per rollout: (monotonic time read, seconds the read took, counts per wave).
        self._counts: dict[str, tuple[float, float, list[dict[str, int]]]] = {}
        #: Rollouts an outcome copy arrived for since their counts were read.
        self._dirty: set[str] = set()
        #: Per rollout: the regions of its targets (a wave stops scanning when all wait).
        self._regions_of: dict[str, tuple[int, frozenset[str]]] = {}
        #: Requests published and not yet answered (the controller's in-flight gauge).
        self.in_flight = InFlight()

    def rollout(self, change_id: str) -> Rollout | None:
        """The rollout, loaded once from the book (None if unknown, rejected or not an event)."""
        if change_id not in self._cache:
            rollout = self.book.load(change_id)
            if rollout is None or rollout.event is None:
                return None
            self._cache[change_id] = rollout
            published = self._published[change_id] = self.book.published(change_id)
            kinds = rollout.targets
            pushed = {t for t in published if t in kinds and kinds[t].delivery == "push"}
            answered = self.book.answered(change_id) if pushed else set()
            self.in_flight.load(change_id, {t: rollout.region_of(t) for t in pushed - answered})
        return self._cache[change_id]

    def forget(self, change_id: str) -> None:
        self._cache.pop(change_id, None)
        self._published.pop(change_id, None)
        self._cursor.pop(change_id, None)
        self._counts.pop(change_id, None)
        self._regions_of.pop(change_id, None)
        self._dirty.discard(change_id)
        self.in_flight.forget(change_id)

    def noted(
        self, event: OutcomeEvent, may_speak: Callable[[Rollout], bool] | None = None
    ) -> bool:
        """An outcome copy arrived: free its in-flight slot and read the counts anew soon.

        False when it belongs to no rollout this driver drives (or to none of its targets),
        or when `may_speak` (asked with the rollout, which knows the target's region) says
        its sender may not speak for its target.
        A rollout that publishes no more is not loaded for it: a halted wave's late outcomes
        cost one lookup each, and their leases expire unused.
        """
        rollout = self._cache.get(event.change_id)
        if rollout is None:
            head = self.book.head(event.change_id)
            if head is None or head.state not in ACTIVE:
                return False
            rollout = self.rollout(event.change_id)
        if rollout is None or event.target not in rollout.targets:
            return False
        if may_speak is not None and not may_speak(rollout):
            return False
        if not self.book.record(rollout, event):
            return False
        self.in_flight.answered(event.change_id, event.target)
        self._dirty.add(event.change_id)
        return True

    def counts(self, rollout: Rollout) -> list[dict[str, int]]:
        """The rollout's counts per wave, from the cache while it is fresh enough."""
        change_id = rollout.change_id
        now = time.monotonic()
        cached = self._counts.get(change_id)
        if cached is not None:
            read_at, took, counts = cached
            age = now - read_at
            least = max(COUNTS_MIN_AGE_S, took / COUNTS_TIME_SHARE)
            if age < least or (age < COUNTS_MAX_AGE_S and change_id not in self._dirty):
                return counts
        self._dirty.discard(change_id)
        counts = self.book.wave_counts(rollout)
        self._counts[change_id] = (now, time.monotonic() - now, counts)
        return counts

    def tick(self) -> None:
        """Drive every active rollout; one that fails unexpectedly is halted, not retried.

        A lost Redis or PostgreSQL is raised: the controller reconnects and starts afresh
        from the book."""
        heads = self.book.heads()
        for gone in set(self._cache) - {h.rollout_id for h in heads}:
            self.forget(gone)
        for head in heads:
            change_id = head.rollout_id
            try:
                rollout = self.rollout(change_id)
                if rollout is not None:
                    self.drive(rollout, head)
            except infrastructure():
                raise
            except Exception as exc:
                log.exception("rollout %s halted by an unexpected error", change_id)
                self.forget(change_id)
                reason = f"unexpected error: {exc!r}"[:500]
                self.book.set_state(change_id, RolloutState.HALTED, reason)

    def drive(self, rollout: Rollout, head: Head | None = None) -> None:
        """Advance one rollout as far as its state, budget and pacing allow now."""
        change_id = rollout.change_id
        head = head or self.book.head(change_id)
        if head is None or head.state != RolloutState.RUNNING:
            return  # next_step says idle too; this spares reading the counts
        event = rollout.event
        assert event is not None
        index = head.wave
        step = next_step(
            head.state,
            rollout.plan,
            index,
            self.counts(rollout)[index],
            now=utcnow(),
            deadline=event.deadline,
            pause_s=event.rollout.pause_s,
            due=head.next_wave_at.timestamp() if head.next_wave_at else None,
        )
        # A state the driver sets holds only if no operator moved the rollout meanwhile.
        if step.kind == "halt":
            if self.book.set_state(change_id, RolloutState.HALTED, step.reason, only_from=RUN):
                self._mark(rollout, "halted", index, step.reason)
                log.warning("rollout %s halted: %s", change_id, step.reason)
        elif step.kind == "complete":
            if self.book.set_state(change_id, RolloutState.COMPLETED, only_from=RUN):
                self._mark(rollout, "completed", index)
                log.info("rollout %s completed", change_id)
        elif step.kind == "wait":
            assert step.at is not None
            self.book.pause_until(change_id, step.at)
        elif step.kind == "advance":
            self.book.advance_wave(change_id, step.wave)
        elif step.kind == "publish":
            try:
                self._publish_wave(rollout, step.wave)
            except PublishError as exc:
                self.book.set_state(change_id, RolloutState.HALTED, str(exc))
                self._mark(rollout, "halted", step.wave, str(exc))
                log.error("rollout %s halted: %s", change_id, exc)

    def _mark(self, rollout: Rollout, status: str, wave: int, reason: str = "") -> None:
        """A short span in the rollout's trace: its wave halted, or the rollout completed."""
        attributes = {ATTR_CHANGE_ID: rollout.change_id, ATTR_WAVE: wave + 1, ATTR_STATUS: status}
        if reason:
            attributes["provision.reason"] = reason[:300]
        name = "provision rollout completed" if status == "completed" else "provision wave halted"
        with span_from(rollout.trace, name, attributes=attributes, kind=INTERNAL):
            pass

    def _publish_wave(self, rollout: Rollout, index: int) -> None:
        """Publish what pacing allows of the wave, from the first target not yet published."""
        event = rollout.event
        assert event is not None
        change_id = rollout.change_id
        targets = rollout.plan.waves[index].targets
        published = self._published[change_id]
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
        mark: Callable[[str], bool],
    ) -> None:
        """Publish `targets` in order, each within its region's pacing; `mark` records one."""
        event = rollout.event
        assert event is not None
        policy = event.rollout
        change_id = rollout.change_id
        published = self._published[change_id]
        blocked: set[str] = set()
        regions = self._regions(rollout, index)
        lease_s = (expires - now).total_seconds() + 60
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
            if target.delivery == "push":
                request = ChangeRequest(
                    change_id=change_id,
                    target=target,
                    desired=self._desired(rollout, target_id, desired),
                    issued_by=event.issued_by,
                    issued_at=utcnow(),  # when it is sent: the worker measures the queue wait
                    expires_at=expires,
                    dry_run=event.dry_run,
                    revision=rollout.revision,
                    sequence=next_sequences(self.redis, [target_id])[target_id],
                )
                self.publisher.publish(request)
                self.in_flight.published(change_id, target_id, target.region)
            mark(target_id)  # committed before the next is published
            published.add(target_id)

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
