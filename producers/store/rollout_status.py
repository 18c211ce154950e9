"""Reading rollouts back: everything a controller needs to resume, and the counts per wave."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from contracts import OutcomeStatus, Target
from contracts.events import RolloutState
from producers.store.outcomes import NEWEST_FIRST

#: States a controller keeps driving.
ACTIVE = (RolloutState.PLANNED, RolloutState.RUNNING, RolloutState.PAUSED)


@dataclass(frozen=True)
class StoredRollout:
    rollout_id: str
    state: RolloutState
    reason: str
    wave: int
    event_json: str | None
    issued_by: str | None
    revision: int | None
    trace: dict[str, Any]
    next_wave_at: datetime | None
    created_at: datetime
    updated_at: datetime
    #: Per wave, in order: (target ids, max_failures).
    waves: tuple[tuple[tuple[str, ...], int], ...]
    targets: dict[str, Target]
    #: The real resources later waves deliver (see rollouts.create); None once it ends.
    delivered_resources: str | None = None


@dataclass(frozen=True)
class Head:
    """A rollout's moving parts without its plan: what a driver reads on every tick."""

    rollout_id: str
    state: RolloutState
    reason: str
    wave: int
    next_wave_at: datetime | None
    issued_by: str | None
    revision: int | None
    created_at: datetime
    updated_at: datetime


_HEAD = """
    SELECT rollout_id, state, reason, wave, next_wave_at, issued_by, revision,
           created_at, updated_at
    FROM rollouts
"""


def head(conn: psycopg.Connection, rollout_id: str) -> Head | None:
    """The rollout's state, wave and pause (one row by its key), or None."""
    row = conn.execute(_HEAD + "WHERE rollout_id = %s", (rollout_id,)).fetchone()
    return None if row is None else Head(row[0], RolloutState(row[1]), *row[2:])


def active_heads(conn: psycopg.Connection) -> list[Head]:
    """The heads of every rollout a controller must keep driving, oldest first: one query
    per tick, however many rollouts are under way."""
    rows = conn.execute(
        _HEAD + "WHERE state = ANY(%s) ORDER BY created_at", ([s.value for s in ACTIVE],)
    ).fetchall()
    return [Head(row[0], RolloutState(row[1]), *row[2:]) for row in rows]


def load(conn: psycopg.Connection, rollout_id: str) -> StoredRollout | None:
    """Everything a controller needs to resume a rollout, or None for an unknown id."""
    row = conn.execute(
        """
        SELECT rollout_id, state, reason, wave, event_json, issued_by, revision, trace,
               next_wave_at, created_at, updated_at, delivered_resources
        FROM rollouts WHERE rollout_id = %s
        """,
        (rollout_id,),
    ).fetchone()
    if row is None:
        return None
    waves = conn.execute(
        """
        SELECT w.wave, w.max_failures,
               coalesce(array_agg(t.target ORDER BY t.position)
                        FILTER (WHERE t.target IS NOT NULL), '{}')
        FROM rollout_waves w
        LEFT JOIN rollout_targets t ON t.rollout_id = w.rollout_id AND t.wave = w.wave
        WHERE w.rollout_id = %s GROUP BY w.wave, w.max_failures ORDER BY w.wave
        """,
        (rollout_id,),
    ).fetchall()
    targets = conn.execute(
        "SELECT target, target_json FROM rollout_targets WHERE rollout_id = %s", (rollout_id,)
    ).fetchall()
    return StoredRollout(
        rollout_id=row[0],
        state=RolloutState(row[1]),
        reason=row[2],
        wave=row[3],
        event_json=row[4],
        issued_by=row[5],
        revision=row[6],
        trace=dict(row[7]),
        next_wave_at=row[8],
        created_at=row[9],
        updated_at=row[10],
        waves=tuple((tuple(w[2]), int(w[1])) for w in waves),
        targets={t[0]: Target.model_validate_json(t[1]) for t in targets},
        delivered_resources=row[11],
    )


def wave_counts(conn: psycopg.Connection, rollout_id: str) -> list[dict[str, int]]:
    """Per wave, a count for every status word of its targets' current outcomes.

    The rollout's id is its change id. Targets without an outcome count as pending.
    """
    rows = conn.execute(
        f"""
        WITH latest AS (
            SELECT DISTINCT ON (target) target, status FROM outcomes
            WHERE change_id = %(id)s
            ORDER BY target, {NEWEST_FIRST}
        )
        SELECT t.wave, coalesce(l.status, 'pending'), count(*)
        FROM rollout_targets t LEFT JOIN latest l USING (target)
        WHERE t.rollout_id = %(id)s GROUP BY 1, 2
        """,
        {"id": rollout_id},
    ).fetchall()
    size = conn.execute(
        "SELECT count(*) FROM rollout_waves WHERE rollout_id = %s", (rollout_id,)
    ).fetchone()
    result = [{s.value: 0 for s in OutcomeStatus} for _ in range(int(size[0]) if size else 0)]
    for wave, status, count in rows:
        result[wave][status] = int(count)
    return result


def active(conn: psycopg.Connection) -> list[str]:
    """Rollouts a controller must keep driving, oldest first."""
    rows = conn.execute(
        "SELECT rollout_id FROM rollouts WHERE state = ANY(%s) ORDER BY created_at",
        ([s.value for s in ACTIVE],),
    ).fetchall()
    return [row[0] for row in rows]
