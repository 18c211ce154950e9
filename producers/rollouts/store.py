"""Rollout books in PostgreSQL: the plan, the state with every transition, what was published.

Everything a controller needs to resume lives in the system of record, so a controller
killed mid-rollout, a Redis emptied or restarted, or a PostgreSQL restart loses nothing:
targets already published are never published again, and a wave's counts are read from
the outcomes the aggregator stored. Redis holds only the pacing leases an outcome frees.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
import redis

from broker_config import EVENTS_QUEUE
from broker_config.redis_keys import inflight_key
from contracts import OutcomeEvent, OutcomeStatus, Target
from contracts.events import ChangeEvent, RolloutState
from contracts.state import DesiredState
from producers.rollouts.kept import delivered_resources, excerpt, redacted_json
from producers.rollouts.planner import RolloutPlan, Wave
from producers.store import refusals, tallies
from producers.store import rollout_status as stored
from producers.store import rollouts as books
from producers.store.database import Database
from producers.store.refusals import RejectedEvent
from producers.store.rollout_status import Head
from producers.store.rollouts import PlannedWave, Transition

#: Statuses that count against a wave's error budget.
FAILURES = (OutcomeStatus.FAILED, OutcomeStatus.REJECTED, OutcomeStatus.NOT_READY)


@dataclass
class Rollout:
    """One rollout as loaded from the book: what a controller drives."""

    change_id: str
    state: RolloutState
    reason: str
    wave: int
    event: ChangeEvent | None
    plan: RolloutPlan
    targets: dict[str, Target]
    next_wave_at: float | None = None
    trace: dict[str, str] | None = None
    #: The source-of-truth revision this rollout assigns, wave by wave (None: inline only).
    revision: int | None = None

    def region_of(self, target: str) -> str:
        return self.targets[target].region


class RolloutBook:
    """Reads and writes rollouts: records in `db`, the forgettable leases in `client`."""

    def __init__(self, db: Database, client: redis.Redis) -> None:
        self.db = db
        self.redis = client

    def exists(self, change_id: str) -> bool:
        return self.head(change_id) is not None

    def head(self, change_id: str) -> Head | None:
        """State, reason, wave and pause of a rollout (one row), or None if unknown."""
        with self.db.connection() as conn:
            return stored.head(conn, change_id)

    def create(
        self,
        event: ChangeEvent,
        plan: RolloutPlan,
        targets: list[Target],
        *,
        trace: dict[str, Any] | None = None,
        revision: int | None = None,
    ) -> bool:
        """Store a planned rollout in one transaction. False when the id exists already
        (a repeated event): nothing is changed then."""
        by_id = {t.id: t for t in targets}
        waves = [
            PlannedWave(tuple(by_id[t] for t in w.targets), w.max_failures) for w in plan.waves
        ]
        with self.db.connection() as conn:
            return books.create(
                conn,
                event.change_id,
                # Shown and kept for the record with sensitive content redacted; the real
                # resources are kept apart only while the rollout still has to deliver them.
                event_json=redacted_json(event),
                issued_by=event.issued_by,
                waves=waves,
                revision=revision,
                trace=trace,
                delivered_resources=delivered_resources(event, revision),
            )

    def reject(self, change_id: str, reason: str, body: bytes = b"") -> bool:
        """Record why an event was refused, under its id, so the emitter can see why.

        The rollout row says `rejected` and why; the body is kept only as its sha256, size
        and a short redacted excerpt (one row per distinct body). An id that names a real
        rollout is left alone. True when something was recorded.
        """
        with self.db.connection() as conn:
            if not books.reject(conn, change_id, reason):
                head = stored.head(conn, change_id)
                if head is None or head.state != RolloutState.REJECTED:
                    return False
            refusals.reject_event(
                conn,
                body,
                reason=reason,
                source=EVENTS_QUEUE,
                event_id=change_id,
                excerpt=excerpt(body),
            )
        return True

    def set_state(
        self,
        change_id: str,
        state: RolloutState,
        reason: str = "",
        *,
        only_from: Collection[RolloutState] | None = None,
        then: Callable[[psycopg.Connection], object] | None = None,
    ) -> bool:
        """Move the rollout and record the transition; False if final, unknown, unchanged
        or not in `only_from` (checked in the same transaction).

        `then(conn)` runs in that transaction once the move is made (an operator's audit
        record): the move and what `then` writes commit together, or neither does.
        Leaving the publishing states drops the resources kept for delivery."""
        with self.db.connection() as conn, conn.transaction():
            moved = books.set_state(conn, change_id, state, reason, only_from=only_from)
            if moved and then is not None:
                then(conn)
            return moved

    def advance_wave(self, change_id: str, wave: int) -> None:
        with self.db.connection() as conn:
            books.advance_wave(conn, change_id, wave)

    def pause_until(self, change_id: str, at_s: float) -> None:
        with self.db.connection() as conn:
            books.pause_until(conn, change_id, datetime.fromtimestamp(at_s, UTC))

    def load(self, change_id: str) -> Rollout | None:
        """The whole rollout (plan, targets, event with what it delivers), or None."""
        with self.db.connection() as conn:
            row = stored.load(conn, change_id)
        if row is None:
            return None
        event = None
        if row.event_json and row.state != RolloutState.REJECTED:
            event = ChangeEvent.model_validate_json(row.event_json)
            if row.delivered_resources:
                real = DesiredState.model_validate_json(row.delivered_resources).resources
                event = event.model_copy(update={"resources": real})
        plan = RolloutPlan(
            tuple(Wave(i, targets, budget) for i, (targets, budget) in enumerate(row.waves))
        )
        return Rollout(
            change_id=change_id,
            state=row.state,
            reason=row.reason,
            wave=row.wave,
            event=event,
            plan=plan,
            targets=row.targets,
            next_wave_at=row.next_wave_at.timestamp() if row.next_wave_at else None,
            trace=dict(row.trace),
            revision=row.revision,
        )

    def meta(self, change_id: str) -> dict[str, str]:
        """The rollout's head as words (`state`, `reason`, `wave`, ...); {} if unknown."""
        head = self.head(change_id)
        if head is None:
            return {}
        return {
            "state": head.state.value,
            "reason": head.reason,
            "wave": str(head.wave),
            "next_wave_at": f"{head.next_wave_at.timestamp():.3f}" if head.next_wave_at else "",
            "issued_by": head.issued_by or "",
            "revision": "" if head.revision is None else str(head.revision),
            "created_at": head.created_at.isoformat(),
            "updated_at": head.updated_at.isoformat(),
        }

    def published(self, change_id: str) -> set[str]:
        with self.db.connection() as conn:
            return books.published(conn, change_id)

    def published_count(self, change_id: str) -> int:
        with self.db.connection() as conn:
            return books.published_count(conn, change_id)

    def mark_published(self, change_id: str, target: str) -> bool:
        """Note one target's request as published (committed now); False if it was already."""
        with self.db.connection() as conn:
            return bool(books.mark_published(conn, change_id, [target]))

    @contextmanager
    def publishing(self, change_id: str) -> Iterator[Callable[[Sequence[str]], list[str]]]:
        """`mark_published` for a pass over a wave: one connection for the pass, each batch
        of marks committed on its own (one statement in autocommit), so a crash leaves at
        most the batch in hand unrecorded (republished after a restart, and applied once by
        the workers' idempotency record), and a batch costs one round trip."""
        with self.db.connection() as conn:
            conn.autocommit = True
            try:
                yield lambda targets: books.mark_published(conn, change_id, targets)
            finally:
                with suppress(psycopg.Error):  # a lost connection is the pool's to drop
                    conn.autocommit = False

    def record(self, rollout: Rollout, event: OutcomeEvent) -> bool:
        """An outcome of this rollout arrived: free its target's in-flight slot.

        The outcome itself is the aggregator's to store; counts are read from there. False
        for a target the rollout does not have."""
        if event.target not in rollout.targets:
            return False
        slot = inflight_key(rollout.change_id, rollout.region_of(event.target))
        self.redis.zrem(slot, event.target)
        return True

    def answered(self, change_id: str) -> set[str]:
        """The rollout's targets with an outcome on record (one query)."""
        with self.db.connection() as conn:
            return tallies.answered(conn, change_id)

    def wave_counts(self, rollout: Rollout) -> list[dict[str, int]]:
        """Per wave, a count for every status word of its targets' current outcomes
        (pending: none yet), from the outcomes stored in the system of record."""
        return self.wave_counts_of(rollout.change_id)

    def wave_counts_of(self, change_id: str) -> list[dict[str, int]]:
        """`wave_counts` by id, without loading the rollout."""
        with self.db.connection() as conn:
            return stored.wave_counts(conn, change_id)

    def heads(self) -> list[Head]:
        """The heads of the rollouts a controller keeps driving, oldest first (one query)."""
        with self.db.connection() as conn:
            return stored.active_heads(conn)

    def active(self) -> list[str]:
        """Rollouts a controller keeps driving (planned, running, paused), oldest first."""
        with self.db.connection() as conn:
            return stored.active(conn)

    def transitions(self, change_id: str) -> list[Transition]:
        """Every state the rollout went through, in order, with when and why."""
        with self.db.connection() as conn:
            return books.transitions(conn, change_id)

    def refused(self, change_id: str) -> RejectedEvent | None:
        """The refused body recorded under this id (digest, size, excerpt), if any."""
        with self.db.connection() as conn:
            return refusals.rejected_event(conn, change_id)


def failures(counts: dict[str, int]) -> int:
    return sum(counts[s.value] for s in FAILURES)
