"""The rollout driver: what each active rollout does next, and doing it.

The decision (`steps.next_step`) is pure, so every rule of a rollout (deadline, error budget,
pause between waves, completion) is table-tested in-process; `Driver` only reads the
rollout's state from the system of record, asks `next_step`, and carries the step out.
Publishing a wave within its pacing is the `wave_publisher`'s; a wave's counts, read from
the system of record no more often than they change, are `counts`'.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import redis
from opentelemetry.trace import SpanKind

from contracts import OutcomeEvent
from contracts.changes import utcnow
from contracts.events import RolloutState
from contracts.telemetry import ATTR_CHANGE_ID, ATTR_STATUS, ATTR_WAVE, span_from
from producers.errors import PublishError
from producers.messaging.failures import infrastructure
from producers.messaging.publisher import Publisher
from producers.pull.assignments import Assignments
from producers.rollouts.counts import WaveCountCache
from producers.rollouts.heads import Heads
from producers.rollouts.in_flight import InFlight
from producers.rollouts.steps import next_step
from producers.rollouts.store import FAILURES, Rollout, RolloutBook
from producers.rollouts.wave_publisher import WavePublisher
from producers.store.rollout_status import ACTIVE, Head
from producers.truth.revisions import RevisionStore

log = logging.getLogger("provision.controller")
INTERNAL = SpanKind.INTERNAL

#: The one state from which the driver moves a rollout.
RUN = (RolloutState.RUNNING,)
#: Change ids remembered as no rollout at all (a direct `provision apply`), most recent last.
STRANGERS = 4096


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
        heads: Heads | None = None,
    ) -> None:
        self.book = book
        #: The active rollouts' heads (read on every tick unless `heads` has a listener).
        self.heads = heads if heads is not None else Heads(book)
        self._cache: dict[str, Rollout] = {}
        #: Changes with no rollout in the book: their outcomes cost no lookup after the first.
        #: A rollout is booked before any of its requests is published, so an outcome of a
        #: change with none can never later belong to one.
        self._strangers: dict[str, None] = {}
        #: Requests published and not yet answered (the controller's in-flight gauge).
        self.in_flight = InFlight()
        self.waves = WavePublisher(client, book, publisher, truth, assignments, self.in_flight)
        self.wave_counts = WaveCountCache(book)

    def rollout(self, change_id: str) -> Rollout | None:
        """The rollout, loaded once from the book (None if unknown, rejected or not an event)."""
        if change_id not in self._cache:
            rollout = self.book.load(change_id)
            if rollout is None or rollout.event is None:
                return None
            self._cache[change_id] = rollout
            published = self.waves.published[change_id] = self.book.published(change_id)
            kinds = rollout.targets
            pushed = {t for t in published if t in kinds and kinds[t].delivery == "push"}
            answered = self.book.answered(change_id) if pushed else set()
            self.in_flight.load(change_id, {t: rollout.region_of(t) for t in pushed - answered})
        return self._cache[change_id]

    def forget(self, change_id: str) -> None:
        self._cache.pop(change_id, None)
        self.waves.forget(change_id)
        self.wave_counts.forget(change_id)
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
            if event.change_id in self._strangers:
                return False
            head = self.book.head(event.change_id)
            if head is None:
                self._stranger(event.change_id)
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
        if event.status in FAILURES or not self.in_flight.waiting(event.change_id):
            # Only these can change the next step: a failure (the budget), or the last
            # answer awaited (the wave's end). Any other copy leaves a wave that has requests
            # still out pending, so its counts are not read again for it.
            self.wave_counts.note(event.change_id)
        return True

    def _stranger(self, change_id: str) -> None:
        """Remember a change that is no rollout, forgetting the oldest beyond STRANGERS."""
        self._strangers[change_id] = None
        if len(self._strangers) > STRANGERS:
            del self._strangers[next(iter(self._strangers))]

    def counts(self, rollout: Rollout) -> list[dict[str, int]]:
        """The rollout's counts per wave, from the cache while it is fresh enough."""
        return self.wave_counts.of(rollout)

    def tick(self) -> None:
        """Drive every active rollout; one that fails unexpectedly is halted, not retried.

        A lost Redis or PostgreSQL is raised: the controller reconnects and starts afresh
        from the book."""
        heads = self.heads.current()
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
                self.heads.moved()

    def drive(self, rollout: Rollout, head: Head | None = None, *, again: bool = True) -> None:
        """Advance one rollout as far as its state, budget and pacing allow now (`again`:
        after moving to the next wave, once more, to publish it)."""
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
        if step.kind in ("halt", "complete", "wait", "advance"):
            self.heads.moved()  # the head this writes is read again at the next tick
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
            if again:
                self.drive(rollout, again=False)  # the next wave goes out now, not a tick later
        elif step.kind == "publish":
            try:
                self.waves.publish(rollout, step.wave)
            except PublishError as exc:
                self.book.set_state(change_id, RolloutState.HALTED, str(exc))
                self.heads.moved()
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
