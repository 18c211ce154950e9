"""Counts the controller's gauges read from the system of record, each one cheap query.

`rollouts_by_state` scans the rollouts table's state column; `push_regions` the
inventory's regions; `answered` one rollout's targets with an outcome (index
outcomes_by_change), read once when a controller loads the rollout.
"""

from __future__ import annotations

import psycopg


def rollouts_by_state(conn: psycopg.Connection) -> dict[str, int]:
    """How many rollouts are in each state (states without one are absent)."""
    rows = conn.execute("SELECT state, count(*) FROM rollouts GROUP BY state").fetchall()
    return {str(state): int(count) for state, count in rows}


def push_regions(conn: psycopg.Connection, limit: int) -> list[str]:
    """The regions of the inventory's push targets, the first `limit` by name."""
    rows = conn.execute(
        "SELECT DISTINCT region FROM targets WHERE delivery = 'push' ORDER BY region LIMIT %s",
        (limit,),
    ).fetchall()
    return [str(row[0]) for row in rows]


def answered(conn: psycopg.Connection, change_id: str) -> set[str]:
    """The targets of a change that have at least one outcome on record."""
    rows = conn.execute(
        "SELECT DISTINCT target FROM outcomes WHERE change_id = %s", (change_id,)
    ).fetchall()
    return {str(row[0]) for row in rows}
