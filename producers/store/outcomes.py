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


def record(conn: psycopg.Connection, records: Sequence[OutcomeRecord]) -> list[str]:
    """Insert a batch of outcomes in one statement; returns the event ids that were new.

    A duplicate (an event id already stored, or twice in the batch) changes nothing.
    The caller acks the batch's messages only after this returns.
    """
    unique: dict[str, OutcomeRecord] = {}
    for r in records:
        unique.setdefault(clean(r.event.outcome_id, 200), r)
    if not unique:
        return []
    columns: list[list[object]] = [[] for _ in range(16)]
    for event_id, r in unique.items():
        e = r.event
        values = (
            event_id,
            clean(e.change_id, 200),
            clean(e.target, 200),
            r.sequence,
            e.status.value,
            e.revision,
            e.delivery,
            e.dry_run,
            e.drift,
            e.attempts,
            clean(e.worker, 200),
            clean(e.trace_id, 64),
            e.started_at,
            e.finished_at,
            r.received_at,
            clean(e.model_dump_json()),
        )
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    # One statement, atomic on its own: no savepoint of its own inside the caller's
    # transaction (two round trips per batch less for the aggregator).
    rows = conn.execute(
        """
        INSERT INTO outcomes (event_id, change_id, target, sequence, status, revision,
                              delivery, dry_run, drift, attempts, worker, trace_id,
                              started_at, finished_at, received_at, event_json)
        SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::bigint[], %b::text[],
                             %b::integer[], %b::text[], %b::boolean[], %b::boolean[],
                             %b::integer[], %b::text[], %b::text[], %b::timestamptz[],
                             %b::timestamptz[], %b::timestamptz[], %b::text[])
        ON CONFLICT (event_id) DO NOTHING
        RETURNING event_id
        """,
        columns,
    ).fetchall()
    new = {row[0] for row in rows}
    return [r.event.outcome_id for event_id, r in unique.items() if event_id in new]


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
