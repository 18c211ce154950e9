"""What the dashboard reads from the system of record: read-only, bounded queries.

Every list is capped (a page never grows with the history), and every value that came
from a message (a target name, a reason, an audit detail) is returned as plain text: the
templates escape it, nothing here formats HTML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from contracts import OutcomeStatus
from contracts.events import RolloutState
from producers.records.compliance import Compliance, ComplianceState
from producers.records.inventory import fleet
from producers.store import audit, refusals
from producers.store.audit import AuditEntry
from producers.store.database import Database
from producers.store.outcomes import FAILURES
from producers.store.rollout_status import ACTIVE, wave_counts

#: Rollouts shown: every active one, and those that ended within this many seconds.
RECENT_S = 3600
#: At most this many rollouts on the page.
ROLLOUTS_SHOWN = 20
#: Audit entries and refusals shown, newest first.
AUDIT_SHOWN = 200
REFUSALS_SHOWN = 50
#: Statuses that count as done without failing.
SUCCEEDED = (OutcomeStatus.CHANGED, OutcomeStatus.CONVERGED)


@dataclass(frozen=True)
class ComplianceGroup:
    """How many targets of one environment and region stand in each state."""

    environment: str
    region: str
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class WaveCounts:
    index: int
    size: int
    max_failures: int
    counts: dict[str, int]

    @property
    def done(self) -> int:
        return sum(self.counts[s.value] for s in SUCCEEDED)

    @property
    def failed(self) -> int:
        return sum(self.counts[s.value] for s in FAILURES)

    @property
    def pending(self) -> int:
        return self.counts[OutcomeStatus.PENDING.value]


@dataclass(frozen=True)
class RolloutView:
    """One rollout as the page shows it: state, why, the wave it is at, every wave's counts."""

    change_id: str
    state: RolloutState
    reason: str
    wave: int
    issued_by: str | None
    created_at: datetime
    updated_at: datetime
    waves: list[WaveCounts] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def halted(self) -> bool:
        return self.state == RolloutState.HALTED


def compliance_groups(db: Database, now: datetime | None = None) -> list[ComplianceGroup]:
    """Fleet compliance per (environment, region), sorted; every state counted."""
    targets = fleet(db)
    standings = Compliance(db).standings(targets, now or datetime.now(UTC))
    groups: dict[tuple[str, str], dict[str, int]] = {}
    for target, standing in zip(targets, standings, strict=True):
        counts = groups.setdefault(
            (target.environment, target.region), {s.value: 0 for s in ComplianceState}
        )
        counts[standing.state.value] += 1
    return [ComplianceGroup(env, region, c) for (env, region), c in sorted(groups.items())]


def rollouts(db: Database, recent_s: float = RECENT_S) -> list[RolloutView]:
    """Active rollouts and those that ended recently (not rejected events), newest first."""
    with db.connection() as conn:
        heads = conn.execute(
            """
            SELECT rollout_id, state, reason, wave, issued_by, created_at, updated_at
            FROM rollouts
            WHERE state = ANY(%(active)s)
               OR (state <> 'rejected'
                   AND updated_at > clock_timestamp() - make_interval(secs => %(recent)s))
            ORDER BY created_at DESC LIMIT %(limit)s
            """,
            {"active": [s.value for s in ACTIVE], "recent": recent_s, "limit": ROLLOUTS_SHOWN},
        ).fetchall()
        views = []
        for row in heads:
            sizes = conn.execute(
                """
                SELECT w.wave, w.max_failures, count(t.target)
                FROM rollout_waves w LEFT JOIN rollout_targets t
                  ON t.rollout_id = w.rollout_id AND t.wave = w.wave
                WHERE w.rollout_id = %s GROUP BY w.wave, w.max_failures ORDER BY w.wave
                """,
                (row[0],),
            ).fetchall()
            counts = wave_counts(conn, row[0])
            waves = [
                WaveCounts(int(w), int(size), int(limit), counts[int(w)])
                for (w, limit, size) in sizes
                if int(w) < len(counts)
            ]
            rollout_id, state, reason, wave, issued_by, created_at, updated_at = row
            views.append(
                RolloutView(
                    rollout_id,
                    RolloutState(state),
                    reason,
                    wave,
                    issued_by,
                    created_at,
                    updated_at,
                    waves,
                )
            )
    return views


def audit_trail(db: Database, limit: int = AUDIT_SHOWN) -> tuple[list[AuditEntry], int | None]:
    """The newest `limit` audit entries, newest first, and where the chain breaks (None:
    whole)."""
    with db.connection() as conn:
        row = conn.execute("SELECT coalesce(max(id), 0) FROM audit_log").fetchone()
        newest = int(row[0]) if row else 0
        entries = audit.entries(conn, after_id=max(0, newest - limit), limit=limit)
        broken = audit.verify(conn)
    return list(reversed(entries)), broken


def refused(db: Database) -> dict[str, Any]:
    """Events refused at intake and check-ins refused at the desk, newest first."""
    with db.connection() as conn:
        return {
            "events": refusals.rejected_events(conn, REFUSALS_SHOWN),
            "checkins": refusals.recent_refusals(conn, REFUSALS_SHOWN),
        }
