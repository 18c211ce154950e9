"""Assigned revisions (what each target should be at) and applied ones (what it reported).

Both only move forward: a slow rollout of an older revision never takes a target back
behind a newer assignment, and a late outcome of an older revision never hides a newer
one. To roll back, publish the old content as a new revision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import psycopg

from producers.store.text import clean


@dataclass(frozen=True)
class AssignmentRow:
    target: str
    revision: int
    change_id: str
    at: datetime


def assign(conn: psycopg.Connection, target: str, revision: int, change_id: str) -> bool:
    """Assign `revision` unless the target already has a newer one (then False)."""
    row = conn.execute(
        """
        INSERT INTO assigned_revisions AS a (target, revision, change_id) VALUES (%s, %s, %s)
        ON CONFLICT (target) DO UPDATE SET
            revision = EXCLUDED.revision,
            change_id = EXCLUDED.change_id,
            assigned_at = clock_timestamp()
        WHERE a.revision <= EXCLUDED.revision
        RETURNING target
        """,
        (target, revision, change_id),
    ).fetchone()
    return row is not None


def assign_if_unassigned(
    conn: psycopg.Connection, target: str, revision: int, change_id: str
) -> AssignmentRow:
    """Assign `revision` to a target that has no assignment yet; its assignment after.

    A rollout that assigned the target meanwhile wins: nothing is overwritten.
    """
    conn.execute(
        """
        INSERT INTO assigned_revisions (target, revision, change_id) VALUES (%s, %s, %s)
        ON CONFLICT (target) DO NOTHING
        """,
        (target, revision, change_id),
    )
    found = assigned(conn, target)
    assert found is not None
    return found


def assigned(conn: psycopg.Connection, target: str) -> AssignmentRow | None:
    return _row(conn, "assigned", target)


def all_assigned(conn: psycopg.Connection) -> dict[str, AssignmentRow]:
    rows = conn.execute(
        "SELECT target, revision, change_id, assigned_at FROM assigned_revisions ORDER BY target"
    ).fetchall()
    return {row[0]: AssignmentRow(*row) for row in rows}


def record_applied(
    conn: psycopg.Connection, target: str, revision: int, change_id: str, event_id: str
) -> bool:
    """Note that the target reported `revision` applied; False if it reported a newer one."""
    return record_applied_many(conn, [(target, revision, change_id, event_id)]) == 1


def applied(conn: psycopg.Connection, target: str) -> AssignmentRow | None:
    return _row(conn, "applied", target)


def _row(conn: psycopg.Connection, kind: str, target: str) -> AssignmentRow | None:
    """The target's row of `assigned_revisions` or `applied_revisions` (kind: the prefix)."""
    table = {"assigned": "assigned_revisions", "applied": "applied_revisions"}[kind]
    row = conn.execute(
        f"SELECT target, revision, change_id, {kind}_at FROM {table} WHERE target = %s",
        (target,),
    ).fetchone()
    return AssignmentRow(*row) if row else None


def record_applied_many(
    conn: psycopg.Connection, applied_rows: Sequence[tuple[str, int, str, str]]
) -> int:
    """`record_applied` for many (target, revision, change id, event id) in one statement,
    as the aggregator's batch needs; a target named twice keeps its highest revision.
    Returns how many targets moved forward."""
    best: dict[str, tuple[str, int, str, str]] = {}
    for row in applied_rows:
        row = (clean(row[0], 200), row[1], clean(row[2], 200), clean(row[3], 200))
        if row[0] not in best or best[row[0]][1] < row[1]:
            best[row[0]] = row
    if not best:
        return 0
    columns = [list(column) for column in zip(*best.values(), strict=True)]
    cursor = conn.execute(
        """
        INSERT INTO applied_revisions AS a (target, revision, change_id, event_id)
        SELECT * FROM unnest(%b::text[], %b::integer[], %b::text[], %b::text[])
        ON CONFLICT (target) DO UPDATE SET
            revision = EXCLUDED.revision,
            change_id = EXCLUDED.change_id,
            event_id = EXCLUDED.event_id,
            applied_at = clock_timestamp()
        WHERE a.revision < EXCLUDED.revision
        """,
        columns,
    )
    return cursor.rowcount
