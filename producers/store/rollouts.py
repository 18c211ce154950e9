"""Rollouts: the plan (waves and their targets), the state, and every transition.

Each change of state is one transaction that updates the rollout and appends a
transition (from, to, reason, time), so the history can never disagree with the state.
A final state (completed, aborted, rejected) is never left.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

import psycopg

from contracts import Target
from contracts.events import RolloutState
from producers.store.text import clean

#: States in which a rollout may still publish (and so keeps what it delivers).
DELIVERING = (RolloutState.PLANNED, RolloutState.RUNNING, RolloutState.PAUSED)


@dataclass(frozen=True)
class PlannedWave:
    """One wave as planned: its targets, in order, and its failure budget."""

    targets: tuple[Target, ...]
    max_failures: int


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
    delivered_resources: str | None = None,
) -> bool:
    """Store a planned rollout with its plan; False if this id exists (a repeated event).

    An id that only a refusal holds (state `rejected`, no event kept) is taken over: the
    refusal stays in the transitions, and an unauthenticated message that claimed the id
    first cannot turn a verified event with that id into a no-op.

    `event_json` is the event as kept for the record (redacted); `delivered_resources`, the
    real content later waves deliver when nothing else holds it, is dropped by `set_state`
    as soon as the rollout can publish no more (and the schema refuses it after that).
    """
    with conn.transaction():
        created = conn.execute(
            """
            INSERT INTO rollouts
                (rollout_id, state, event_json, issued_by, revision, trace, delivered_resources)
            VALUES (%s, 'planned', %s, %s, %s, %s, %s)
            ON CONFLICT (rollout_id) DO UPDATE SET
                state = 'planned', reason = '', wave = 0, event_json = EXCLUDED.event_json,
                issued_by = EXCLUDED.issued_by, revision = EXCLUDED.revision,
                trace = EXCLUDED.trace, delivered_resources = EXCLUDED.delivered_resources,
                next_wave_at = NULL, updated_at = clock_timestamp()
            WHERE rollouts.state = 'rejected' AND rollouts.event_json IS NULL
            RETURNING xmax <> 0
            """,
            (
                rollout_id,
                event_json,
                issued_by,
                revision,
                json.dumps(trace or {}),
                delivered_resources,
            ),
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
        took_over = bool(created[0])  # xmax is set on an updated row, 0 on an inserted one
        before = RolloutState.REJECTED if took_over else None
        _transition(conn, rollout_id, before, RolloutState.PLANNED, "planned")
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
    conn: psycopg.Connection,
    rollout_id: str,
    state: RolloutState,
    reason: str = "",
    *,
    only_from: Collection[RolloutState] | None = None,
) -> bool:
    """Move a rollout to `state` and note why. False when it is final, unknown, unchanged,
    or (given `only_from`) in none of those states: the check and the move are one step.

    A rollout that leaves the states that publish drops what it still had to deliver.
    """
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
        if only_from is not None and before not in only_from:
            return False
        conn.execute(
            """
            UPDATE rollouts SET state = %s, reason = %s, updated_at = clock_timestamp(),
                delivered_resources = CASE WHEN %s THEN delivered_resources END
            WHERE rollout_id = %s
            """,
            (state.value, reason, state in DELIVERING, rollout_id),
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


def published_count(conn: psycopg.Connection, rollout_id: str) -> int:
    row = conn.execute(
        "SELECT count(*) FROM rollout_targets WHERE rollout_id = %s AND published_at IS NOT NULL",
        (rollout_id,),
    ).fetchone()
    return int(row[0]) if row else 0


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
