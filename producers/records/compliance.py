"""Compliance: where each target stands, from its latest outcome and its latest check-in.

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

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import redis

from broker_config import redis_keys
from contracts import OutcomeEvent, OutcomeStatus, ResourceStatus, Target
from producers.counters.latest import LatestWins, order_of

#: Hash of target id → JSON {state, revision, last_seen, delivery, interval_s, change_id,
#: differed}.
COMPLIANCE_KEY = redis_keys.COMPLIANCE
#: Hash of target id → "<order> <state> <outcome id>": what the latest-wins script compares.
LATEST_KEY = redis_keys.COMPLIANCE_LATEST
#: Assumed check-in interval of a target that never said (push targets): the agent default.
DEFAULT_INTERVAL_S = 1800.0


class ComplianceState(StrEnum):
    """Where one target stands. Lowercase words on the wire and in Redis."""

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


class Compliance:
    """Records and reads the compliance of every target."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._latest = LatestWins(client)

    def record(self, event: OutcomeEvent) -> bool:
        """Note one outcome. False when skipped (a push preview) or older than the last."""
        if event.dry_run and event.delivery == "push":
            return False
        keep = event.status == OutcomeStatus.SUPERSEDED
        differed = [r.path for r in event.changes] if event.drift or event.dry_run else []
        # A superseded run applied nothing: it moves only last_seen, or, for a target never
        # seen before, says it is pending.
        state = ComplianceState.PENDING if keep else state_of(event)
        record = {
            "state": state.value,
            "revision": event.revision,
            "delivery": event.delivery,
            "change_id": event.change_id,
            "differed": differed,
        }
        at, interval_s = event.finished_at, event.interval_s
        return self._write(event.target, record, at, interval_s, keep, event.outcome_id)

    def seen(self, target: str, at: datetime, interval_s: float | None) -> None:
        """A check-in that brought nothing to converge: the target is alive, nothing more.

        A target that has applied nothing is `pending`, never `aligned`: nothing shows it
        is as desired. A target seen before keeps its state (only last_seen moves).
        """
        record: dict[str, Any] = {
            "state": ComplianceState.PENDING.value,
            "revision": None,
            "delivery": "pull",
            "change_id": None,
            "differed": [],
        }
        self._write(target, record, at, interval_s, True, f"seen-{at.timestamp():.6f}")

    def _write(
        self,
        target: str,
        record: dict[str, Any],
        at: datetime,
        interval_s: float | None,
        keep: bool,
        outcome_id: str,
    ) -> bool:
        """Write one observation unless a newer one (or this one) is recorded already.

        With `keep` (a superseded outcome, a bare check-in) the standing stays and only
        `at`, `last_seen` and `interval_s` move; an unknown interval keeps the last one.
        """
        stamp = at.astimezone(UTC)
        full = {
            **record,
            "at": stamp.timestamp(),
            "last_seen": stamp.isoformat(),
            "interval_s": interval_s,
        }
        return self._latest.record(
            latest=LATEST_KEY,
            target=target,
            order=order_of(stamp.timestamp()),
            status=record["state"],
            outcome_id=outcome_id,
            payload_key=COMPLIANCE_KEY,
            payload=json.dumps(full),
            touch=("at", "last_seen", "interval_s") if keep else (),
            keep_if_null=("interval_s",),
        )

    def standings(self, targets: list[Target], now: datetime | None = None) -> list[Standing]:
        """One row per target, in the order given; never-seen or silent ones are unknown."""
        now = now or datetime.now(UTC)
        ids = [t.id for t in targets]
        raw = self.redis.hmget(COMPLIANCE_KEY, ids) if ids else []
        return [_standing(target, value, now) for target, value in zip(ids, raw, strict=True)]


def _standing(target: str, value: Any, now: datetime) -> Standing:
    if not value:
        return Standing(target, ComplianceState.UNKNOWN, None, None)
    data = json.loads(value)
    last_seen = datetime.fromisoformat(data["last_seen"])
    interval_s = float(data.get("interval_s") or DEFAULT_INTERVAL_S)
    state = ComplianceState(data["state"])
    if (now - last_seen).total_seconds() > 2 * interval_s:
        state = ComplianceState.UNKNOWN
    return Standing(
        target,
        state,
        data.get("revision"),
        last_seen,
        data.get("delivery"),
        tuple(data.get("differed") or ()),
    )


def counts(standings: list[Standing]) -> dict[str, int]:
    """How many targets are in each state (every state listed, zeros included)."""
    result = {state.value: 0 for state in ComplianceState}
    for standing in standings:
        result[standing.state.value] += 1
    return result
