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

from producers.store import recordset
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


#: An applied revision's columns with their types, as a recordset row.
_APPLIED = "target text, revision integer, change_id text, event_id text"


def upsert_applied(where: str = "") -> str:
    """The statement moving targets to the revisions a recordset says they applied,
    restricted by `where` (SQL on the recordset's row `r`). A target named twice keeps its
    highest revision, and a target never moves back (a late outcome of an older run)."""
    return f"""
        INSERT INTO applied_revisions AS a (target, revision, change_id, event_id)
        SELECT DISTINCT ON (target) target, revision, change_id, event_id
        FROM {recordset.source(_APPLIED)} {where}
        ORDER BY target, revision DESC
        ON CONFLICT (target) DO UPDATE SET
            revision = EXCLUDED.revision,
            change_id = EXCLUDED.change_id,
            event_id = EXCLUDED.event_id,
            applied_at = clock_timestamp()
        WHERE a.revision < EXCLUDED.revision
    """


def applied_row(target: str, revision: int, change_id: str, event_id: str) -> dict[str, object]:
    """One applied revision as a recordset row."""
    return {
        "target": clean(target, 200),
        "revision": revision,
        "change_id": clean(change_id, 200),
        "event_id": clean(event_id, 200),
    }


def record_applied_many(
    conn: psycopg.Connection, applied_rows: Sequence[tuple[str, int, str, str]]
) -> int:
    """`record_applied` for many (target, revision, change id, event id) in one statement,
    as the aggregator's batch needs; a target named twice keeps its highest revision.
    Returns how many targets moved forward."""
    if not applied_rows:
        return 0
    rows = recordset.recordset(applied_row(*row) for row in applied_rows)
    return conn.execute(upsert_applied(), (rows,)).rowcount
