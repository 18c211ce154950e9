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
from producers.records.compliance import observation
from producers.store import assignments, compliance, outcomes
from producers.store.outcomes import OutcomeRecord
from producers.store.recordset import recordset
from producers.store.text import clean

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


#: Keeps a part of the batch's statement to the outcomes recorded for the first time.
_ONLY_NEW = "WHERE r.event_id IN (SELECT event_id FROM new)"
#: The whole batch in ONE statement: the outcomes, then the observations and applied
#: revisions of those that were new. A statement is atomic, so it needs no savepoint of its
#: own in the caller's transaction, and its parts see one another's rows through `new`.
_STATEMENT = f"""
    WITH new AS ({outcomes.INSERT}),
    observed AS ({compliance.insert(_ONLY_NEW)}),
    applied AS ({assignments.upsert_applied(_ONLY_NEW)})
    SELECT event_id FROM new
"""


def write(conn: psycopg.Connection, batch: list[Held]) -> list[str]:
    """Everything a batch of outcomes records, on `conn` (the caller's transaction), in
    one round trip; the new event ids.

    Only a new outcome (an event id not seen before) reaches compliance and the applied
    revisions, so a redelivered batch changes nothing at all.
    """
    firsts: dict[str, Held] = {}  # by stored event id: a second copy is recorded once
    for held in batch:
        firsts.setdefault(clean(held.event.outcome_id, 200), held)
    if not firsts:
        return []
    records = [OutcomeRecord(h.event, h.event.sequence, h.received_at) for h in firsts.values()]
    unique = outcomes.rows(records)
    observed, applied = [], []
    for event_id, held in firsts.items():
        e = held.event
        seen = observation(e, held.received_at)
        if seen is not None:
            observed.append(compliance.row(seen, event_id))
        if e.status in APPLIED and e.revision is not None and not e.dry_run:
            applied.append(assignments.applied_row(e.target, e.revision, e.change_id, event_id))
    parameters = [recordset(unique.values()), recordset(observed), recordset(applied)]
    found = conn.execute(_STATEMENT, parameters).fetchall()
    return outcomes.new_ids(records, {row[0] for row in found})


def forged_sequence(event: OutcomeEvent, now_s: float) -> str | None:
    """Why the event's sequence cannot be real, or None. A sequence is a hybrid clock in
    microseconds (`producers.counters.sequences`), so one far ahead of ours was not handed
    out by this control plane, and would hide every later outcome of its target."""
    if event.sequence is None or event.sequence <= (now_s + limits.CLOCK_SKEW_S) * 1e6:
        return None
    bound = f"{limits.limit('CLOCK_SKEW_S').env}={limits.CLOCK_SKEW_S:g}"
    return f"invalid outcome event: sequence {event.sequence} is ahead of our clock ({bound})"
