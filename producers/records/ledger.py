"""The ledger: the book of changes and their outcomes, in the system of record.

Each change keeps the targets it was published to; every outcome is appended, never
overwritten (`producers.store.outcomes`). A target's current outcome within a change is
the one with the highest request sequence, ties broken by the time the aggregator received
it: the sender's `finished_at` never decides, so a forged or skewed clock hides nothing.
Recording the same event twice changes nothing (a unique event id).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg

from contracts import OutcomeEvent, OutcomeStatus
from producers.errors import UnknownChange
from producers.store import changes, outcomes
from producers.store.database import Database
from producers.store.outcomes import OutcomeRecord

PENDING = OutcomeStatus.PENDING


@dataclass
class ChangeStatus:
    """What the ledger knows of one change (or, with `totals`, of some of its targets)."""

    change_id: str
    meta: dict[str, str]
    targets: list[str]
    outcomes: dict[str, OutcomeEvent] = field(default_factory=dict)
    #: The whole change's counts, when `targets` is only a part of it (`status --only`).
    totals: dict[str, int] | None = None

    def counts(self) -> dict[str, int]:
        """A count for every status word; targets without an outcome count as pending."""
        if self.totals is not None:
            return dict(self.totals)
        counts = {status.value: 0 for status in OutcomeStatus}
        for target in self.targets:
            outcome = self.outcomes.get(target)
            counts[outcome.status.value if outcome else OutcomeStatus.PENDING.value] += 1
        return counts

    @property
    def done(self) -> bool:
        """True once every target has an outcome."""
        return all(target in self.outcomes for target in self.targets)

    def as_json(self) -> dict[str, Any]:
        """The `provision status --json` object."""
        rows: list[dict[str, Any]] = []
        for target in self.targets:
            outcome = self.outcomes.get(target)
            if outcome is None:
                rows.append(
                    {
                        "target": target,
                        "status": OutcomeStatus.PENDING.value,
                        "changes": [],
                        "error": None,
                        "attempts": 0,
                        "trace_id": None,
                    }
                )
                continue
            rows.append(
                {
                    "target": target,
                    "status": outcome.status.value,
                    "changes": [
                        c.model_dump(mode="json", exclude_none=True) for c in outcome.changes
                    ],
                    "error": outcome.error.model_dump(mode="json") if outcome.error else None,
                    "attempts": outcome.attempts,
                    "trace_id": outcome.trace_id,
                    "worker": outcome.worker,
                    "finished_at": outcome.finished_at.isoformat(),
                }
            )
        return {"change_id": self.change_id, **self.meta, "targets": rows, "counts": self.counts()}


def _meta(change: changes.Change | None) -> dict[str, str]:
    """The change's header, as `provision status --json` has always shown it (strings)."""
    if change is None:
        return {}
    return {
        "issued_by": change.issued_by,
        "issued_at": change.issued_at.astimezone(UTC).isoformat(),
        "dry_run": "1" if change.dry_run else "0",
        "target_count": str(len(change.targets)),
    }


def record_in(
    conn: psycopg.Connection, events: Sequence[tuple[OutcomeEvent, datetime]]
) -> list[str]:
    """Append outcomes on `conn` (the caller's transaction); returns the new event ids."""
    return outcomes.record(conn, [OutcomeRecord(e, e.sequence, at) for e, at in events])


class Ledger:
    """Reads and writes the book of changes in the system of record."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def open_change(
        self,
        change_id: str,
        targets: list[str],
        *,
        issued_by: str,
        issued_at: datetime,
        dry_run: bool = False,
    ) -> None:
        """Note a change and its targets before its first request is published."""
        with self.db.connection() as conn:
            changes.open_change(
                conn, change_id, targets, issued_by=issued_by, issued_at=issued_at, dry_run=dry_run
            )

    def record(self, event: OutcomeEvent, received_at: datetime | None = None) -> bool:
        """Record one outcome. Returns False when it was a duplicate (its id is known)."""
        return bool(self.record_many([(event, received_at or datetime.now(UTC))]))

    def record_many(self, events: Sequence[tuple[OutcomeEvent, datetime]]) -> list[str]:
        """Record a batch of (outcome, received at) in one transaction; the new event ids."""
        with self.db.connection() as conn:
            return record_in(conn, events)

    def status(self, change_id: str, only: OutcomeStatus | None = None) -> ChangeStatus:
        """Everything known of one change. Raises UnknownChange for an id never opened
        nor heard of. With `only`, just its targets whose current outcome has that status
        (pending: none yet), read by status in SQL, with the whole change's counts.
        """
        waiting: list[str] = []
        with self.db.connection() as conn:
            change = changes.get(conn, change_id)
            if only is None:
                found = outcomes.latest_in_change(conn, change_id)
                latest = {target: stored.event for target, stored in found.items()}
                totals = None
            else:
                latest = {
                    s.event.target: s.event for s in outcomes.by_status(conn, change_id, only)
                }
                waiting = outcomes.without_outcome(conn, change_id) if only == PENDING else []
                totals = outcomes.counts(conn, change_id)
        if change is None and not latest and not any((totals or {}).values()):
            raise UnknownChange(f"no change {change_id!r} in the ledger")
        listed = list(change.targets) if change else []
        known = set(listed)
        targets = listed + sorted(t for t in latest if t not in known)
        if only is not None:
            chosen = set(latest) | set(waiting)
            targets = [t for t in targets if t in chosen]
        return ChangeStatus(change_id, _meta(change), targets, latest, totals)

    def counts(self, change_id: str) -> dict[str, int]:
        """Counts per status; the change's targets without an outcome count as pending."""
        with self.db.connection() as conn:
            return outcomes.counts(conn, change_id)
