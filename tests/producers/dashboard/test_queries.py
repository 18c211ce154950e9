"""What the dashboard reads: rollouts with their waves, counts and halts; compliance per
environment and region; failed targets by reason; the audit trail newest first."""

from __future__ import annotations

from typing import Any

from contracts import ErrorInfo, OutcomeStatus
from contracts.events import RolloutState
from contracts.inventory import Inventory
from producers.dashboard import queries
from producers.records.compliance import Compliance
from producers.records.failures import failed_by_reason
from producers.records.inventory import InventoryStore
from producers.records.ledger import Ledger
from producers.store import audit
from producers.store import rollouts as books
from tests.producers.dashboard.conftest import outcome, rollout, target

BROKEN = ErrorInfo(type="ResourceError", message="a file is in the way", transient=False)


def shown(db: Any, change_id: str) -> queries.RolloutView:
    return next(v for v in queries.rollouts(db) if v.change_id == change_id)


def test_a_rollout_shows_each_wave_s_counts_as_outcomes_arrive(dash_db: Any) -> None:
    cid = rollout(dash_db, [["q1"], ["q2", "q3"]])
    before = shown(dash_db, cid)
    assert before.state == RolloutState.RUNNING and before.active
    assert [(w.index, w.size, w.pending, w.done, w.failed) for w in before.waves] == [
        (0, 1, 1, 0, 0),
        (1, 2, 2, 0, 0),
    ]
    ledger = Ledger(dash_db)
    ledger.record(outcome(cid, "q1", OutcomeStatus.CHANGED))
    ledger.record(outcome(cid, "q2", OutcomeStatus.CONVERGED))
    ledger.record(outcome(cid, "q3", OutcomeStatus.FAILED, error=BROKEN))
    after = shown(dash_db, cid)
    assert [(w.pending, w.done, w.failed) for w in after.waves] == [(0, 1, 0), (0, 1, 1)]
    assert after.waves[1].counts["failed"] == 1 and after.waves[1].counts["converged"] == 1


def test_a_halted_rollout_shows_its_reason_and_an_old_one_is_left_out(dash_db: Any) -> None:
    cid = rollout(dash_db, [["h1"]])
    with dash_db.connection() as conn:
        books.set_state(conn, cid, RolloutState.HALTED, "wave 1: 1 failure(s), budget 0")
    view = shown(dash_db, cid)
    assert view.halted and not view.active and view.reason.startswith("wave 1: 1 failure")
    assert cid not in {v.change_id for v in queries.rollouts(dash_db, recent_s=0)}


def test_failed_targets_group_by_reason(dash_db: Any) -> None:
    cid = rollout(dash_db, [["f1", "f2", "f3"]])
    ledger = Ledger(dash_db)
    for name in ("f1", "f2"):
        ledger.record(outcome(cid, name, OutcomeStatus.FAILED, error=BROKEN))
    ledger.record(outcome(cid, "f3", OutcomeStatus.CHANGED))
    groups = failed_by_reason(dash_db, cid)
    assert len(groups) == 1 and groups[0][1] == ["f1", "f2"]
    assert "a file is in the way" in groups[0][0]


def test_compliance_is_counted_per_environment_and_region(dash_db: Any) -> None:
    fleet = [
        target("c-prod-eu-1", "prod", "eu"),
        target("c-prod-eu-2", "prod", "eu"),
        target("c-prod-us-1", "prod", "us"),
        target("c-stage-eu-1", "stage", "eu"),
    ]
    InventoryStore(dash_db).load(Inventory(targets=tuple(fleet)))
    compliance = Compliance(dash_db)
    compliance.record(outcome("c-any", "c-prod-eu-1", OutcomeStatus.CHANGED))
    compliance.record(outcome("c-any", "c-prod-eu-2", OutcomeStatus.FAILED, error=BROKEN))
    groups = {(g.environment, g.region): g for g in queries.compliance_groups(dash_db)}
    assert set(groups) == {("prod", "eu"), ("prod", "us"), ("stage", "eu")}
    prod_eu = groups[("prod", "eu")]
    assert prod_eu.total == 2 and prod_eu.counts["aligned"] == 1 and prod_eu.counts["failed"] == 1
    assert groups[("prod", "us")].counts["unknown"] == 1
    assert list(groups) == sorted(groups), "sorted by environment, then region"


def test_the_audit_trail_is_newest_first_and_its_chain_checked(dash_db: Any) -> None:
    with dash_db.connection() as conn:
        for n in range(3):
            audit.append(conn, actor="alice@ops", action="rollout.pause", subject=f"r-{n}")
    entries, broken = queries.audit_trail(dash_db, limit=2)
    assert [e.subject for e in entries] == ["r-2", "r-1"]
    assert broken is None
