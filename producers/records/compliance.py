"""Compliance: where each target stands, from its latest outcome and its latest check-in.

Every observation is appended to the system of record (`producers.store.compliance`); a
standing is read from that history, and `unknown` is decided at read time.

The aggregator records every outcome here; the check-in desk records check-ins that
brought nothing to converge (no revision assigned). `provision compliance` reads it.

States, as a Puppet or SSM user would expect them:

- `failed`: the latest run failed, was rejected or was not ready;
- `drifted`: something differs from the desired state and was not remediated (a
  report-only agent, or a dry run of a pull);
- `excepted`: nothing failed, and at least one resource is left alone under a waiver;
- `aligned`: the target is as desired (including drift that was found and remediated);
- `pending`: the target checked in but has applied nothing yet (nothing assigned, or
  only an older revision than it has, superseded): never `aligned` before a first apply;
- `unknown`: computed at read time: never seen, or no check-in within twice its interval.

A superseded outcome (an agent was handed an older revision than it applied) changes only
`last_seen`: the target still stands where its newer revision left it. Dry runs of push
changes (`provision apply --dry-run`) are previews, not observations, and are skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import psycopg

from contracts import OutcomeEvent, OutcomeStatus, ResourceStatus, Target
from producers.store import compliance as observations
from producers.store.compliance import Observation, StandingRow
from producers.store.database import Database

#: Assumed check-in interval of a target that never said (push targets): the agent default.
DEFAULT_INTERVAL_S = 1800.0


class ComplianceState(StrEnum):
    """Where one target stands. Lowercase words on the wire and in the store."""

    ALIGNED = "aligned"
    DRIFTED = "drifted"
    FAILED = "failed"
    EXCEPTED = "excepted"
    PENDING = "pending"
    UNKNOWN = "unknown"


def state_of(event: OutcomeEvent) -> ComplianceState:
    """The state one outcome puts its target in (pure; `unknown` is decided at read time)."""
    if event.status in (OutcomeStatus.FAILED, OutcomeStatus.REJECTED, OutcomeStatus.NOT_READY):
        return ComplianceState.FAILED
    if event.status == OutcomeStatus.DRIFTED:
        return ComplianceState.DRIFTED
    if any(r.status == ResourceStatus.EXCEPTED for r in event.resources):
        return ComplianceState.EXCEPTED
    return ComplianceState.ALIGNED


@dataclass(frozen=True)
class Standing:
    """One row of `provision compliance`."""

    target: str
    state: ComplianceState
    revision: int | None
    last_seen: datetime | None
    delivery: str | None = None
    differed: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "state": self.state.value,
            "revision": self.revision,
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
        }


def observation(event: OutcomeEvent, received_at: datetime | None = None) -> Observation | None:
    """What one outcome tells compliance; None for a push preview (not an observation)."""
    if event.dry_run and event.delivery == "push":
        return None
    # A superseded run applied nothing: it proves the target alive and moves nothing else
    # (a target never seen before stands pending).
    superseded = event.status == OutcomeStatus.SUPERSEDED
    differed = [r.path for r in event.changes] if event.drift or event.dry_run else []
    return Observation(
        target=event.target,
        kind="superseded" if superseded else "outcome",
        observed_at=event.finished_at,
        state=None if superseded else state_of(event).value,
        revision=event.revision,
        delivery=event.delivery,
        change_id=event.change_id,
        differed=tuple(differed),
        interval_s=event.interval_s,
        received_at=received_at,
    )


def observe_in(
    conn: psycopg.Connection, events: Sequence[tuple[OutcomeEvent, datetime | None]]
) -> int:
    """Note outcomes on `conn` (the caller's transaction); how many were observations."""
    noted = [o for o in (observation(e, at) for e, at in events) if o is not None]
    if noted:
        observations.observe(conn, noted)
    return len(noted)


class Compliance:
    """Records and reads the compliance of every target, in the system of record.

    "Latest" is by the time the system received an observation, never the target's clock.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, event: OutcomeEvent, received_at: datetime | None = None) -> bool:
        """Note one outcome. False when skipped (a push preview)."""
        with self.db.connection() as conn:
            return observe_in(conn, [(event, received_at)]) == 1

    def seen(self, target: str, at: datetime, interval_s: float | None) -> None:
        """A check-in that brought nothing to converge: the target is alive, nothing more.

        A target that has applied nothing is `pending`, never `aligned`: nothing shows it
        is as desired. A target seen before keeps its state (only last_seen moves), and an
        unknown interval keeps the last one known.
        """
        seen = Observation(target, "checkin", at, delivery="pull", interval_s=interval_s)
        with self.db.connection() as conn:
            observations.observe(conn, [seen])

    def standings(self, targets: list[Target], now: datetime | None = None) -> list[Standing]:
        """One row per target, in the order given; never-seen or silent ones are unknown."""
        now = now or datetime.now(UTC)
        ids = [t.id for t in targets]
        with self.db.connection() as conn:
            rows = observations.standings(conn, ids) if ids else {}
        return [_standing(target, rows.get(target), now) for target in ids]


def _standing(target: str, row: StandingRow | None, now: datetime) -> Standing:
    if row is None:
        return Standing(target, ComplianceState.UNKNOWN, None, None)
    interval_s = float(row.interval_s or DEFAULT_INTERVAL_S)
    state = ComplianceState(row.state) if row.state else ComplianceState.PENDING
    last_seen = row.last_seen.astimezone(UTC)
    if (now - last_seen).total_seconds() > 2 * interval_s:
        state = ComplianceState.UNKNOWN
    return Standing(target, state, row.revision, last_seen, row.delivery, row.differed)


def counts(standings: list[Standing]) -> dict[str, int]:
    """How many targets are in each state (every state listed, zeros included)."""
    result = {state.value: 0 for state in ComplianceState}
    for standing in standings:
        result[standing.state.value] += 1
    return result
