"""Every outcome ever received, append-only, and the queries the on-call engineer needs.

A target's current outcome is the one with the highest per-target sequence (the order in
which the control plane issued its requests), ties broken by the time the aggregator
received it. The sender's `finished_at` never decides: an outcome stamped in 2036 must not
hide every later outcome of its target. An outcome of an unfenced request (no sequence)
ranks below any fenced one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from contracts import OutcomeEvent, OutcomeStatus
from producers.store import recordset
from producers.store.text import clean

#: Statuses that count as a failure.
FAILURES = (OutcomeStatus.FAILED, OutcomeStatus.REJECTED, OutcomeStatus.NOT_READY)
#: The order of what the system observed, newest first.
NEWEST_FIRST = "sequence DESC NULLS LAST, received_at DESC, id DESC"
_COLUMNS = "event_json, sequence, received_at"


@dataclass(frozen=True)
class OutcomeRecord:
    """One outcome as the aggregator received it."""

    event: OutcomeEvent
    #: The per-target sequence of the request it answers (None: an unfenced request).
    sequence: int | None = None
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class Stored:
    """One outcome read back, with what the system observed about it."""

    event: OutcomeEvent
    sequence: int | None
    received_at: datetime


def _stored(row: Sequence[Any]) -> Stored:
    event_json, sequence, received_at = row
    return Stored(OutcomeEvent.model_validate_json(event_json), sequence, received_at)


#: The columns of `outcomes` a recorded outcome fills, with their types.
_RECORDED = (
    "event_id text, change_id text, target text, sequence bigint, status text, revision integer,"
    " delivery text, dry_run boolean, drift boolean, attempts integer, worker text,"
    " trace_id text, started_at timestamptz, finished_at timestamptz, received_at timestamptz,"
    " event_json text"
)
#: Appends a recordset of outcomes (`rows`): a duplicate event id changes nothing; returns
#: the ids that were new. One statement, atomic on its own, so it needs no savepoint inside
#: a caller's transaction; the aggregator's batch uses it as its first part.
INSERT = f"""
    INSERT INTO outcomes ({recordset.names(_RECORDED)})
    SELECT {recordset.names(_RECORDED)} FROM {recordset.source(_RECORDED)}
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
"""


def rows(records: Sequence[OutcomeRecord]) -> dict[str, dict[str, object]]:
    """The recordset of `records` by stored event id: the first of a duplicated id only."""
    unique: dict[str, dict[str, object]] = {}
    for r in records:
        event_id, e = clean(r.event.outcome_id, 200), r.event
        if event_id in unique:
            continue
        unique[event_id] = {
            "event_id": event_id,
            "change_id": clean(e.change_id, 200),
            "target": clean(e.target, 200),
            "sequence": r.sequence,
            "status": e.status.value,
            "revision": e.revision,
            "delivery": e.delivery,
            "dry_run": e.dry_run,
            "drift": e.drift,
            "attempts": e.attempts,
            "worker": clean(e.worker, 200),
            "trace_id": clean(e.trace_id, 64),
            "started_at": e.started_at,
            "finished_at": e.finished_at,
            "received_at": r.received_at,
            "event_json": clean(e.model_dump_json()),
        }
    return unique


def record(conn: psycopg.Connection, records: Sequence[OutcomeRecord]) -> list[str]:
    """Insert a batch of outcomes in one statement; returns the event ids that were new.

    A duplicate (an event id already stored, or twice in the batch) changes nothing.
    The caller acks the batch's messages only after this returns.
    """
    unique = rows(records)
    if not unique:
        return []
    found = conn.execute(INSERT, (recordset.recordset(unique.values()),)).fetchall()
    return new_ids(records, {row[0] for row in found})


def new_ids(records: Sequence[OutcomeRecord], stored: set[str]) -> list[str]:
    """The outcome ids of `records` whose stored event id is in `stored`, each once."""
    seen: set[str] = set()
    new = []
    for r in records:
        event_id = clean(r.event.outcome_id, 200)
        if event_id in stored and event_id not in seen:
            seen.add(event_id)
            new.append(r.event.outcome_id)
    return new


def current(conn: psycopg.Connection, target: str) -> Stored | None:
    """The target's current outcome across every change."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM outcomes WHERE target = %s ORDER BY {NEWEST_FIRST} LIMIT 1",
        (target,),
    ).fetchone()
    return _stored(row) if row else None


def latest_in_change(conn: psycopg.Connection, change_id: str) -> dict[str, Stored]:
    """Each target's current outcome within one change."""
    rows = conn.execute(
        f"""
        SELECT DISTINCT ON (target) target, {_COLUMNS} FROM outcomes
        WHERE change_id = %s ORDER BY target, {NEWEST_FIRST}
        """,
        (change_id,),
    ).fetchall()
    return {row[0]: _stored(row[1:]) for row in rows}


def by_status(conn: psycopg.Connection, change_id: str, status: OutcomeStatus) -> list[Stored]:
    """The targets of a change whose current outcome has `status`, by target id."""
    rows = conn.execute(
        f"""
        SELECT {_COLUMNS} FROM (
            SELECT DISTINCT ON (target) target, status, {_COLUMNS} FROM outcomes
            WHERE change_id = %s ORDER BY target, {NEWEST_FIRST}
        ) latest WHERE status = %s ORDER BY target
        """,
        (change_id, status.value),
    ).fetchall()
    return [_stored(row) for row in rows]


def counts(conn: psycopg.Connection, change_id: str) -> dict[str, int]:
    """A count for every status word; the change's targets without an outcome are pending."""
    rows = conn.execute(
        f"""
        WITH latest AS (
            SELECT DISTINCT ON (target) target, status FROM outcomes
            WHERE change_id = %(change)s ORDER BY target, {NEWEST_FIRST}
        )
        SELECT coalesce(l.status, 'pending'), count(*)
        FROM (SELECT target FROM change_targets WHERE change_id = %(change)s
              UNION SELECT target FROM latest) t
        LEFT JOIN latest l USING (target)
        GROUP BY 1
        """,
        {"change": change_id},
    ).fetchall()
    result = {status.value: 0 for status in OutcomeStatus}
    result.update({row[0]: int(row[1]) for row in rows})
    return result


def history(conn: psycopg.Connection, target: str, limit: int = 100) -> list[Stored]:
    """A target's outcomes across every change, newest first."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM outcomes WHERE target = %s ORDER BY {NEWEST_FIRST} LIMIT %s",
        (target, limit),
    ).fetchall()
    return [_stored(row) for row in rows]


def failed_since(
    conn: psycopg.Connection, window: timedelta = timedelta(hours=1), now: datetime | None = None
) -> list[Stored]:
    """Each target that failed within `window` (by receive time), with its latest failure."""
    since = (now or datetime.now(UTC)) - window
    rows = conn.execute(
        f"""
        SELECT {_COLUMNS} FROM (
            SELECT DISTINCT ON (target) target, {_COLUMNS} FROM outcomes
            WHERE status = ANY(%s) AND received_at >= %s
            ORDER BY target, {NEWEST_FIRST}
        ) failed ORDER BY target
        """,
        ([s.value for s in FAILURES], since),
    ).fetchall()
    return [_stored(row) for row in rows]


def without_outcome(conn: psycopg.Connection, change_id: str) -> list[str]:
    """The change's targets that have no outcome yet (pending), in the change's order."""
    rows = conn.execute(
        """
        SELECT t.target FROM change_targets t
        WHERE t.change_id = %s AND NOT EXISTS (
            SELECT 1 FROM outcomes o WHERE o.change_id = t.change_id AND o.target = t.target
        )
        ORDER BY t.position
        """,
        (change_id,),
    ).fetchall()
    return [row[0] for row in rows]


def current_statuses(conn: psycopg.Connection, targets: Sequence[str]) -> dict[str, str]:
    """Each target's current status across every change (targets never heard of: absent)."""
    rows = conn.execute(
        f"""
        SELECT DISTINCT ON (target) target, status FROM outcomes
        WHERE target = ANY(%s) ORDER BY target, {NEWEST_FIRST}
        """,
        (list(targets),),
    ).fetchall()
    return {row[0]: row[1] for row in rows}
