"""The inventory: every target the control plane may select, replaced whole by a load."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import psycopg

from contracts import Target
from producers.store import recordset
from producers.store.text import clean


@dataclass(frozen=True)
class LoadCounts:
    added: int
    updated: int
    removed: int
    total: int


def replace(conn: psycopg.Connection, targets: Sequence[Target]) -> LoadCounts:
    """Make the inventory exactly `targets`, in one transaction: the file is the truth."""
    after = {t.id: t.model_dump_json() for t in targets}
    with conn.transaction():
        conn.execute("LOCK TABLE targets IN SHARE ROW EXCLUSIVE MODE")
        before: dict[str, str] = dict(
            conn.execute("SELECT id, target_json FROM targets").fetchall()
        )
        removed = sorted(before.keys() - after.keys())
        if removed:
            conn.execute("DELETE FROM targets WHERE id = ANY(%s)", (removed,))
        changed = [t for t in targets if before.get(t.id) != after[t.id]]
        with conn.cursor() as cursor:
            cursor.executemany(
                """
                INSERT INTO targets (id, region, environment, delivery, target_json)
                VALUES (%s, %s, %s, %s, %s)
                ON CONFLICT (id) DO UPDATE SET
                    region = EXCLUDED.region,
                    environment = EXCLUDED.environment,
                    delivery = EXCLUDED.delivery,
                    target_json = EXCLUDED.target_json,
                    updated_at = clock_timestamp()
                """,
                [(t.id, t.region, t.environment, t.delivery, after[t.id]) for t in changed],
            )
    return LoadCounts(
        added=len(after.keys() - before.keys()),
        updated=sum(1 for t in changed if t.id in before),
        removed=len(removed),
        total=len(after),
    )


def get(conn: psycopg.Connection, target_id: str) -> Target | None:
    row = conn.execute("SELECT target_json FROM targets WHERE id = %s", (target_id,)).fetchone()
    return Target.model_validate_json(row[0]) if row else None


def all_targets(conn: psycopg.Connection) -> list[Target]:
    """Every target, in id order."""
    rows = conn.execute('SELECT target_json FROM targets ORDER BY id COLLATE "C"').fetchall()
    return [Target.model_validate_json(row[0]) for row in rows]


def regions_of(
    conn: psycopg.Connection, pairs: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], str | None]:
    """The region of each (change id, target): as the change's rollout planned it (the region
    whose worker got the request), else the inventory's; None when neither knows the target.

    Read from our records only, never from the outcome: the sender chooses what it says.
    """
    wanted = sorted({(c, t) for c, t in pairs if clean(c) == c and clean(t) == t})
    found: dict[tuple[str, str], str | None] = dict.fromkeys(pairs)
    if not wanted:
        return found
    rows = conn.execute(
        f"""
        SELECT p.change_id, p.target, coalesce(r.target_json::jsonb ->> 'region', t.region)
        FROM {recordset.source("change_id text, target text", "p")}
        LEFT JOIN rollout_targets r ON r.rollout_id = p.change_id AND r.target = p.target
        LEFT JOIN targets t ON t.id = p.target
        """,
        (recordset.recordset({"change_id": c, "target": t} for c, t in wanted),),
    ).fetchall()
    for change_id, target, region in rows:
        found[(change_id, target)] = region
    return found
