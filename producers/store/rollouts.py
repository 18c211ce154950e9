"""Rollouts: the plan (waves and their targets), the state, and every transition.

Each change of state is one transaction that updates the rollout and appends a
transition (from, to, reason, time), so the history can never disagree with the state.
A final state (completed, aborted, rejected) is never left.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from contracts import OutcomeStatus, Target
from contracts.events import RolloutState
from producers.store.text import clean

#: States a controller keeps driving.
ACTIVE = (RolloutState.PLANNED, RolloutState.RUNNING, RolloutState.PAUSED)


@dataclass(frozen=True)
class PlannedWave:
    """One wave as planned: its targets, in order, and its failure budget."""

    targets: tuple[Target, ...]
    max_failures: int


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


@dataclass(frozen=True)
class Transition:
    from_state: RolloutState | None
    to_state: RolloutState
    reason: str
    at: datetime


def create(
    conn: psycopg.Connection,
    rollout_id: str,
    *,
    event_json: str,
    issued_by: str,
    waves: Sequence[PlannedWave],
    revision: int | None = None,
    trace: dict[str, str] | None = None,
) -> bool:
    """Store a planned rollout with its plan; False if this id exists (a repeated event)."""
    with conn.transaction():
        created = conn.execute(
            """
            INSERT INTO rollouts (rollout_id, state, event_json, issued_by, revision, trace)
            VALUES (%s, 'planned', %s, %s, %s, %s)
            ON CONFLICT (rollout_id) DO NOTHING RETURNING rollout_id
            """,
            (rollout_id, event_json, issued_by, revision, json.dumps(trace or {})),
        ).fetchone()
        if created is None:
            return False
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO rollout_waves (rollout_id, wave, max_failures) VALUES (%s, %s, %s)",
                [(rollout_id, index, w.max_failures) for index, w in enumerate(waves)],
            )
            rows = [
                (rollout_id, t.id, index, position, t.model_dump_json())
                for index, w in enumerate(waves)
                for position, t in enumerate(w.targets)
            ]
            cursor.executemany(
                "INSERT INTO rollout_targets (rollout_id, target, wave, position, target_json)"
                " VALUES (%s, %s, %s, %s, %s)",
                rows,
            )
        _transition(conn, rollout_id, None, RolloutState.PLANNED, "planned")
    return True


def reject(conn: psycopg.Connection, rollout_id: str, reason: str) -> bool:
    """Record why an event was refused, under its id; False if the id is already taken."""
    reason = clean(reason, 4000)
    rollout_id = clean(rollout_id, 200)
    with conn.transaction():
        created = conn.execute(
            """
            INSERT INTO rollouts (rollout_id, state, reason) VALUES (%s, 'rejected', %s)
            ON CONFLICT (rollout_id) DO NOTHING RETURNING rollout_id
            """,
            (rollout_id, reason),
        ).fetchone()
        if created is not None:
            _transition(conn, rollout_id, None, RolloutState.REJECTED, reason)
    return created is not None


def set_state(
    conn: psycopg.Connection, rollout_id: str, state: RolloutState, reason: str = ""
) -> bool:
    """Move a rollout to `state` and note why. False when it is final, unknown or unchanged."""
    reason = clean(reason, 4000)
    with conn.transaction():
        row = conn.execute(
            "SELECT state, reason FROM rollouts WHERE rollout_id = %s FOR UPDATE", (rollout_id,)
        ).fetchone()
        if row is None:
            return False
        before = RolloutState(row[0])
        if before.final or (before == state and row[1] == reason):
            return False
        conn.execute(
            "UPDATE rollouts SET state = %s, reason = %s, updated_at = clock_timestamp()"
            " WHERE rollout_id = %s",
            (state.value, reason, rollout_id),
        )
        _transition(conn, rollout_id, before, state, reason)
    return True


def _transition(
    conn: psycopg.Connection,
    rollout_id: str,
    before: RolloutState | None,
    after: RolloutState,
    reason: str,
) -> None:
    conn.execute(
        "INSERT INTO rollout_transitions (rollout_id, from_state, to_state, reason)"
        " VALUES (%s, %s, %s, %s)",
        (rollout_id, before.value if before else None, after.value, reason),
    )


def advance_wave(conn: psycopg.Connection, rollout_id: str, wave: int) -> None:
    conn.execute(
        "UPDATE rollouts SET wave = %s, next_wave_at = NULL, updated_at = clock_timestamp()"
        " WHERE rollout_id = %s",
        (wave, rollout_id),
    )


def pause_until(conn: psycopg.Connection, rollout_id: str, at: datetime) -> None:
    conn.execute("UPDATE rollouts SET next_wave_at = %s WHERE rollout_id = %s", (at, rollout_id))


def mark_published(conn: psycopg.Connection, rollout_id: str, targets: Sequence[str]) -> list[str]:
    """Note targets whose request was published; returns those not published before."""
    rows = conn.execute(
        """
        UPDATE rollout_targets SET published_at = clock_timestamp()
        WHERE rollout_id = %s AND target = ANY(%s) AND published_at IS NULL
        RETURNING target
        """,
        (rollout_id, list(targets)),
    ).fetchall()
    return sorted(row[0] for row in rows)


def published(conn: psycopg.Connection, rollout_id: str) -> set[str]:
    rows = conn.execute(
        "SELECT target FROM rollout_targets WHERE rollout_id = %s AND published_at IS NOT NULL",
        (rollout_id,),
    ).fetchall()
    return {row[0] for row in rows}


def load(conn: psycopg.Connection, rollout_id: str) -> StoredRollout | None:
    """Everything a controller needs to resume a rollout, or None for an unknown id."""
    row = conn.execute(
        """
        SELECT rollout_id, state, reason, wave, event_json, issued_by, revision, trace,
               next_wave_at, created_at, updated_at
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
    )


def wave_counts(conn: psycopg.Connection, rollout_id: str) -> list[dict[str, int]]:
    """Per wave, a count for every status word of its targets' current outcomes.

    The rollout's id is its change id. Targets without an outcome count as pending.
    """
    rows = conn.execute(
        """
        WITH latest AS (
            SELECT DISTINCT ON (target) target, status FROM outcomes
            WHERE change_id = %(id)s
            ORDER BY target, sequence DESC NULLS LAST, received_at DESC, id DESC
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


def transitions(conn: psycopg.Connection, rollout_id: str) -> list[Transition]:
    """Every state a rollout went through, in order, with when and why."""
    rows = conn.execute(
        "SELECT from_state, to_state, reason, at FROM rollout_transitions"
        " WHERE rollout_id = %s ORDER BY id",
        (rollout_id,),
    ).fetchall()
    return [
        Transition(RolloutState(r[0]) if r[0] else None, RolloutState(r[1]), r[2], r[3])
        for r in rows
    ]
