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

from producers.store import recordset
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


#: An observation's columns with their types, and `event_id`, the outcome it came from
#: (not stored): the aggregator's batch keeps only the observations of its new outcomes.
_OBSERVED = (
    "event_id text, target text, kind text, state text, revision integer, delivery text,"
    " change_id text, differed text[], interval_s double precision,"
    " observed_at timestamptz, received_at timestamptz"
)


def insert(where: str = "") -> str:
    """The statement appending a recordset of observations, restricted by `where` (SQL on
    the recordset's row `r`, e.g. to the event ids another part of the statement kept)."""
    return f"""
        INSERT INTO compliance_observations (target, kind, state, revision, delivery,
                                             change_id, differed, interval_s, observed_at,
                                             received_at)
        SELECT target, kind, state, revision, delivery, change_id, differed, interval_s,
               observed_at, coalesce(received_at, clock_timestamp())
        FROM {recordset.source(_OBSERVED)} {where}
    """


def row(o: Observation, event_id: str | None = None) -> dict[str, object]:
    """One observation as a recordset row; `event_id` names the outcome it came from."""
    return {
        "event_id": event_id,
        "target": clean(o.target, 200),
        "kind": o.kind,
        "state": o.state,
        "revision": o.revision,
        "delivery": o.delivery,
        "change_id": clean(o.change_id, 200),
        "differed": [clean(path, 1000) for path in o.differed[:1000]],
        "interval_s": o.interval_s,
        "observed_at": o.observed_at,
        "received_at": o.received_at,
    }


def observe(conn: psycopg.Connection, observations: Sequence[Observation]) -> None:
    """Append observations (one statement for the batch)."""
    conn.execute(insert(), (recordset.recordset(row(o) for o in observations),))


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
