"""The ledger's book of changes: each change and the targets it was published to."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import psycopg


@dataclass(frozen=True)
class Change:
    change_id: str
    issued_by: str
    issued_at: datetime
    dry_run: bool
    targets: tuple[str, ...]


def open_change(
    conn: psycopg.Connection,
    change_id: str,
    targets: Sequence[str],
    *,
    issued_by: str,
    issued_at: datetime,
    dry_run: bool = False,
) -> None:
    """Note a change and its targets before its first request is published.

    Opening the same change again (a publisher that restarted) replaces its target list.
    """
    ordered = list(dict.fromkeys(targets))
    with conn.transaction():
        conn.execute(
            """
            INSERT INTO changes (change_id, issued_by, issued_at, dry_run)
            VALUES (%s, %s, %s, %s)
            ON CONFLICT (change_id) DO UPDATE SET
                issued_by = EXCLUDED.issued_by,
                issued_at = EXCLUDED.issued_at,
                dry_run = EXCLUDED.dry_run
            """,
            (change_id, issued_by, issued_at, dry_run),
        )
        conn.execute("DELETE FROM change_targets WHERE change_id = %s", (change_id,))
        with conn.cursor().copy(
            "COPY change_targets (change_id, target, position) FROM STDIN"
        ) as copy:
            for position, target in enumerate(ordered):
                copy.write_row((change_id, target, position))


def get(conn: psycopg.Connection, change_id: str) -> Change | None:
    """The change with its targets in the order given, or None."""
    row = conn.execute(
        """
        SELECT c.change_id, c.issued_by, c.issued_at, c.dry_run,
               coalesce(array_agg(t.target ORDER BY t.position)
                        FILTER (WHERE t.target IS NOT NULL), '{}')
        FROM changes c LEFT JOIN change_targets t USING (change_id)
        WHERE c.change_id = %s
        GROUP BY c.change_id
        """,
        (change_id,),
    ).fetchone()
    if row is None:
        return None
    return Change(row[0], row[1], row[2], row[3], tuple(row[4]))


def recent(conn: psycopg.Connection, limit: int = 50) -> list[str]:
    """The ids of the latest changes, newest first."""
    rows = conn.execute(
        "SELECT change_id FROM changes ORDER BY issued_at DESC, opened_at DESC LIMIT %s",
        (limit,),
    ).fetchall()
    return [row[0] for row in rows]
