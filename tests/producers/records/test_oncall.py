"""The on-call queries as a user runs them: `provision status --only`, `provision history`
and `provision failures`, read from PostgreSQL."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts import ErrorInfo, OutcomeStatus
from producers.records.ledger import Ledger
from tests.isolation import Isolated
from tests.producers.records.conftest import outcome

#: Slow (runs `provision` as a subprocess, as a user does), so not in the quick loop, `pytest -m
#: "not slow"`.
pytestmark = pytest.mark.slow

FORGED = datetime(2036, 1, 1, tzinfo=UTC)
BROKEN = ErrorInfo(type="CommandFailed", message="exited 1", transient=False)


def later(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


@pytest.fixture
def ledger(database: Any) -> Ledger:
    return Ledger(database)


def run(session_services: Isolated, *args: str) -> Any:
    done = session_services.provision(*args)
    assert done.returncode == 0, done.stderr
    return done


def test_status_only_lists_one_status_with_the_whole_counts(
    session_services: Isolated, ledger: Ledger
) -> None:
    cid = f"oncall-{uuid.uuid4()}"
    ledger.open_change(cid, ["a", "b", "c"], issued_by="t", issued_at=datetime.now(UTC))
    ledger.record(outcome("a", OutcomeStatus.FAILED, change_id=cid, error=BROKEN))
    ledger.record(outcome("b", OutcomeStatus.CHANGED, change_id=cid))
    shown = json.loads(run(session_services, "status", cid, "--only", "failed", "--json").stdout)
    assert [row["target"] for row in shown["targets"]] == ["a"]
    assert shown["only"] == "failed" and shown["counts"]["changed"] == 1
    assert (
        shown["counts"]["pending"] == 1 and shown["targets"][0]["error"]["type"] == "CommandFailed"
    )
    pending = json.loads(run(session_services, "status", cid, "--only", "pending", "--json").stdout)
    assert [row["target"] for row in pending["targets"]] == ["c"]
    table = run(session_services, "status", cid, "--only", "failed").stdout
    assert "CommandFailed" in table and " b " not in table
    bad = session_services.provision("status", cid, "--only", "nonsense")
    assert bad.returncode == 2


def test_history_is_newest_first_by_sequence_then_receive_time(
    session_services: Isolated, ledger: Ledger
) -> None:
    target = f"h-{uuid.uuid4().hex[:8]}"
    forged = outcome(target, OutcomeStatus.FAILED, sequence=100, finished_at=FORGED)
    first = outcome(target, OutcomeStatus.CHANGED, sequence=200)
    retry = outcome(target, OutcomeStatus.CONVERGED, sequence=200)
    ledger.record(forged, later(0))
    ledger.record(retry, later(2))
    ledger.record(first, later(1))
    shown = json.loads(run(session_services, "history", target, "--json").stdout)
    assert shown["target"] == target
    assert [row["outcome_id"] for row in shown["outcomes"]] == [
        retry.outcome_id,
        first.outcome_id,
        forged.outcome_id,
    ]
    assert shown["outcomes"][2]["finished_at"].startswith("2036")
    assert shown["outcomes"][0]["sequence"] == 200
    limited = json.loads(run(session_services, "history", target, "--limit", "1", "--json").stdout)
    assert len(limited["outcomes"]) == 1
    assert "converged" in run(session_services, "history", target).stdout
    assert "no outcome" in run(session_services, "history", f"nobody-{uuid.uuid4()}").stdout


def test_failures_lists_each_target_that_failed_recently_and_where_it_is_now(
    session_services: Isolated, ledger: Ledger
) -> None:
    down, recovered, old = (f"f-{uuid.uuid4().hex[:8]}" for _ in range(3))
    ledger.record(outcome(down, OutcomeStatus.NOT_READY, sequence=1))
    ledger.record(outcome(recovered, OutcomeStatus.FAILED, sequence=1, error=BROKEN))
    ledger.record(outcome(recovered, OutcomeStatus.CHANGED, sequence=2))
    ledger.record(outcome(old, OutcomeStatus.REJECTED, sequence=1), later(-7200))
    shown = json.loads(run(session_services, "failures", "--since", "1h", "--json").stdout)
    rows = {row["target"]: row for row in shown["targets"]}
    assert rows[down]["status"] == "not_ready" and rows[down]["current"] == "not_ready"
    assert rows[recovered]["status"] == "failed" and rows[recovered]["current"] == "changed"
    assert old not in rows, "received two hours ago"
    wider = json.loads(run(session_services, "failures", "--since", "3h", "--json").stdout)
    assert old in {row["target"] for row in wider["targets"]}
    assert down in run(session_services, "failures").stdout
    bad = session_services.provision("failures", "--since", "soon")
    assert bad.returncode == 2 and "not a duration" in bad.stderr
