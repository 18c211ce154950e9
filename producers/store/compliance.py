"""Compliance history: every observation of every target, append-only.

A target's standing is read from its history: the state, revision and differing paths of
its latest outcome, and the last time anything (an outcome, a superseded outcome, a bare
check-in) proved it alive. "Latest" is by the time the system received the observation;
the target's own clock (`observed_at`) is kept for display and never orders anything.
Whether a silent target is `unknown` is decided by the reader, against its interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import psycopg

from producers.store.text import clean


@dataclass(frozen=True)
class Observation:
    """One observation of a target. `state` only for kind `outcome`."""

    target: str
    kind: str  # outcome | superseded | checkin
    observed_at: datetime
    state: str | None = None
    revision: int | None = None
    delivery: str | None = None
    change_id: str | None = None
    differed: tuple[str, ...] = ()
    interval_s: float | None = None
    #: When the system received it (the aggregator's receive time); None: the database's now.
    received_at: datetime | None = None


@dataclass(frozen=True)
class StandingRow:
    """Where a target stood when last observed (None fields: never said)."""

    target: str
    state: str | None
    revision: int | None
    delivery: str | None
    change_id: str | None
    differed: tuple[str, ...]
    interval_s: float | None
    last_seen: datetime


def observe(conn: psycopg.Connection, observations: Sequence[Observation]) -> None:
    """Append observations (one round trip for the batch)."""
    with conn.cursor() as cursor:
        cursor.executemany(
            """
            INSERT INTO compliance_observations (target, kind, state, revision, delivery,
                                                 change_id, differed, interval_s, observed_at,
                                                 received_at)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s,
                    coalesce(%s::timestamptz, clock_timestamp()))
            """,
            [
                (
                    clean(o.target, 200),
                    o.kind,
                    o.state,
                    o.revision,
                    o.delivery,
                    clean(o.change_id, 200),
                    [clean(path, 1000) for path in o.differed[:1000]],
                    o.interval_s,
                    o.observed_at,
                    o.received_at,
                )
                for o in observations
            ],
        )


def standings(conn: psycopg.Connection, targets: Sequence[str]) -> dict[str, StandingRow]:
    """The standing of each of `targets` that was ever observed.

    The delivery is the latest outcome's, else that of the latest sign of life (a target
    that only checked in is a pull target).
    """
    rows = conn.execute(
        """
        WITH seen AS (
            SELECT DISTINCT ON (target) target, received_at, delivery
            FROM compliance_observations WHERE target = ANY(%(t)s)
            ORDER BY target, received_at DESC, id DESC
        ), stated AS (
            SELECT DISTINCT ON (target) target, state, revision, delivery, change_id, differed
            FROM compliance_observations WHERE target = ANY(%(t)s) AND kind = 'outcome'
            ORDER BY target, received_at DESC, id DESC
        ), paced AS (
            SELECT DISTINCT ON (target) target, interval_s
            FROM compliance_observations WHERE target = ANY(%(t)s) AND interval_s IS NOT NULL
            ORDER BY target, received_at DESC, id DESC
        )
        SELECT s.target, st.state, st.revision, coalesce(st.delivery, s.delivery), st.change_id,
               coalesce(st.differed, '{}'), p.interval_s, s.received_at
        FROM seen s LEFT JOIN stated st USING (target) LEFT JOIN paced p USING (target)
        """,
        {"t": list(targets)},
    ).fetchall()
    return {
        row[0]: StandingRow(row[0], row[1], row[2], row[3], row[4], tuple(row[5]), row[6], row[7])
        for row in rows
    }


def history(conn: psycopg.Connection, target: str, limit: int = 100) -> list[Observation]:
    """A target's observations, newest first."""
    rows = conn.execute(
        """
        SELECT target, kind, observed_at, state, revision, delivery, change_id, differed,
               interval_s
        FROM compliance_observations WHERE target = %s
        ORDER BY received_at DESC, id DESC LIMIT %s
        """,
        (target, limit),
    ).fetchall()
    # The columns are the dataclass's fields, in order.
    return [Observation(r[0], r[1], r[2], r[3], r[4], r[5], r[6], tuple(r[7]), r[8]) for r in rows]
