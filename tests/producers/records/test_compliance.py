"""Compliance on PostgreSQL: the state rules of `producers.records.compliance`, the order of
what the system received (never the target's clock), and `unknown` decided at read time."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts import OutcomeStatus, ResourceOutcome, ResourceStatus, Target
from producers.records.compliance import Compliance, ComplianceState, counts
from tests.producers.records.conftest import outcome

FORGED = datetime(2036, 1, 1, tzinfo=UTC)


def target() -> Target:
    name = f"c-{uuid.uuid4().hex[:8]}"
    return Target(id=name, region="eu", environment="test", address=f"local:///srv/{name}")


def later(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


@pytest.fixture
def compliance(database: Any) -> Compliance:
    return Compliance(database)


def test_each_outcome_sets_the_state_the_rules_say(compliance: Compliance) -> None:
    t = [target() for _ in range(4)]
    waived = ResourceOutcome(kind="file", path="/etc/x", status=ResourceStatus.EXCEPTED)
    assert compliance.record(outcome(t[0].id, OutcomeStatus.CHANGED, revision=2))
    assert compliance.record(outcome(t[1].id, OutcomeStatus.NOT_READY))
    assert compliance.record(outcome(t[2].id, OutcomeStatus.DRIFTED, delivery="pull"))
    assert compliance.record(outcome(t[3].id, OutcomeStatus.CONVERGED, resources=(waived,)))
    found = compliance.standings(t)
    assert [s.state for s in found] == [
        ComplianceState.ALIGNED,
        ComplianceState.FAILED,
        ComplianceState.DRIFTED,
        ComplianceState.EXCEPTED,
    ]
    assert found[0].revision == 2 and found[0].delivery == "push"
    assert counts(found)["aligned"] == 1 and counts(found)["unknown"] == 0


def test_a_push_preview_is_no_observation(compliance: Compliance) -> None:
    t = target()
    assert not compliance.record(outcome(t.id, OutcomeStatus.CHANGED, dry_run=True))
    assert compliance.standings([t])[0].state == ComplianceState.UNKNOWN


def test_superseded_moves_only_last_seen(compliance: Compliance) -> None:
    t, fresh = target(), target()
    compliance.record(outcome(t.id, OutcomeStatus.FAILED, revision=5), later(0))
    assert compliance.record(outcome(t.id, OutcomeStatus.SUPERSEDED, revision=4), later(10))
    standing = compliance.standings([t])[0]
    assert (standing.state, standing.revision) == (ComplianceState.FAILED, 5)
    assert standing.last_seen is not None and standing.last_seen >= later(9)
    compliance.record(outcome(fresh.id, OutcomeStatus.SUPERSEDED, revision=4))
    assert compliance.standings([fresh])[0].state == ComplianceState.PENDING


def test_a_check_in_is_pending_until_a_first_apply_and_keeps_the_interval(
    compliance: Compliance,
) -> None:
    t = target()
    compliance.seen(t.id, datetime.now(UTC), 60.0)
    first = compliance.standings([t])[0]
    assert (first.state, first.delivery) == (ComplianceState.PENDING, "pull")
    compliance.record(outcome(t.id, OutcomeStatus.CHANGED, delivery="pull", interval_s=60.0))
    compliance.seen(t.id, datetime.now(UTC), None)  # an unknown interval keeps the last
    assert compliance.standings([t])[0].state == ComplianceState.ALIGNED
    silent = compliance.standings([t], now=later(121))[0]
    assert silent.state == ComplianceState.UNKNOWN, "no check-in within twice its interval"
    assert compliance.standings([t], now=later(100))[0].state == ComplianceState.ALIGNED


def test_the_target_clock_orders_nothing(compliance: Compliance) -> None:
    """An outcome stamped 2036 neither keeps a target alive nor outranks a later one."""
    t = target()
    forged = outcome(t.id, OutcomeStatus.CHANGED, finished_at=FORGED, interval_s=60.0)
    compliance.record(forged, later(-3600))  # received an hour ago
    assert compliance.standings([t])[0].state == ComplianceState.UNKNOWN
    compliance.record(outcome(t.id, OutcomeStatus.FAILED, interval_s=60.0))
    assert compliance.standings([t])[0].state == ComplianceState.FAILED
