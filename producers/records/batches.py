"""One batch of outcomes as the aggregator writes it: everything in one transaction.

The outcomes (append-only, unique event id), the compliance observation of each new one,
and the revision each new successful run applied. Only new outcomes reach compliance and
the applied revisions, so a redelivered batch changes nothing at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from contracts import OutcomeEvent, OutcomeStatus, limits
from producers.records.compliance import observe_in
from producers.records.ledger import record_in
from producers.store import assignments

#: Outcomes whose run moved the target to their revision.
APPLIED = (OutcomeStatus.CHANGED, OutcomeStatus.CONVERGED)


@dataclass(frozen=True)
class Held:
    """One received message, not acked until the transaction holding it commits."""

    method: Any
    properties: Any
    body: bytes
    event: OutcomeEvent
    received_at: datetime


def write(conn: psycopg.Connection, batch: list[Held]) -> list[str]:
    """Everything a batch of outcomes records, in one transaction; the new event ids.

    Only a new outcome (an event id not seen before) reaches compliance and the applied
    revisions, so a redelivered batch changes nothing at all.
    """
    with conn.transaction():
        new = set(record_in(conn, [(h.event, h.received_at) for h in batch]))
        fresh: dict[str, Held] = {}
        for held in batch:
            if held.event.outcome_id in new:
                fresh.setdefault(held.event.outcome_id, held)
        observe_in(conn, [(h.event, h.received_at) for h in fresh.values()])
        assignments.record_applied_many(
            conn,
            [
                (e.target, e.revision, e.change_id, e.outcome_id)
                for e in (h.event for h in fresh.values())
                if e.status in APPLIED and e.revision is not None and not e.dry_run
            ],
        )
    return [h.event.outcome_id for h in fresh.values()]


def forged_sequence(event: OutcomeEvent, now_s: float) -> str | None:
    """Why the event's sequence cannot be real, or None. A sequence is a hybrid clock in
    microseconds (`producers.counters.sequences`), so one far ahead of ours was not handed
    out by this control plane, and would hide every later outcome of its target."""
    if event.sequence is None or event.sequence <= (now_s + limits.CLOCK_SKEW_S) * 1e6:
        return None
    bound = f"{limits.limit('CLOCK_SKEW_S').env}={limits.CLOCK_SKEW_S:g}"
    return f"invalid outcome event: sequence {event.sequence} is ahead of our clock ({bound})"
