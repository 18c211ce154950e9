"""The ledger on a real PostgreSQL: idempotent recording, the system's order (sequence, then
receive time; never the sender's clock), pending derived, and the `--only` filter."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from contracts import OutcomeEvent, OutcomeStatus
from contracts.outcomes import ARRIVING
from producers.errors import UnknownChange
from producers.records.ledger import Ledger

T0 = datetime(2026, 1, 1, tzinfo=UTC)
FORGED = datetime(2036, 1, 1, tzinfo=UTC)


def event(
    change_id: str,
    target: str,
    status: OutcomeStatus,
    sequence: int | None = None,
    *,
    finished_at: datetime = T0,
    outcome_id: str | None = None,
) -> OutcomeEvent:
    return OutcomeEvent(
        outcome_id=outcome_id or str(uuid.uuid4()),
        change_id=change_id,
        target=target,
        status=status,
        worker="w",
        started_at=min(finished_at, T0),
        finished_at=finished_at,
        sequence=sequence,
    )


def at(seconds: float) -> datetime:
    """A receive time `seconds` after now (the tests' own ordering of arrivals)."""
    return datetime.now(UTC) + timedelta(seconds=seconds)


@pytest.fixture
def ledger(database: Any) -> Ledger:
    return Ledger(database)


@pytest.fixture
def cid() -> str:
    return f"ledger-{uuid.uuid4()}"


def test_recording_the_same_event_twice_changes_nothing(ledger: Ledger, cid: str) -> None:
    ledger.open_change(cid, ["a", "b"], issued_by="t", issued_at=T0)
    first = event(cid, "a", OutcomeStatus.CHANGED, 1)
    assert ledger.record(first) is True
    before = (ledger.counts(cid), ledger.status(cid).as_json())
    assert ledger.record(first) is False
    same_id = event(cid, "a", OutcomeStatus.FAILED, 9, outcome_id=first.outcome_id)
    assert ledger.record_many([(same_id, at(5)), (first, at(6))]) == []
    assert (ledger.counts(cid), ledger.status(cid).as_json()) == before
    assert before[0]["changed"] == 1 and before[0]["pending"] == 1


def test_a_batch_is_one_call_and_returns_only_the_new_ids(ledger: Ledger, cid: str) -> None:
    ledger.open_change(cid, ["a", "b", "c"], issued_by="t", issued_at=T0)
    a, b = event(cid, "a", OutcomeStatus.CHANGED, 1), event(cid, "b", OutcomeStatus.FAILED, 1)
    assert ledger.record_many([(a, at(0)), (b, at(0)), (a, at(1))]) == [
        a.outcome_id,
        b.outcome_id,
    ]
    counts = ledger.counts(cid)
    assert (counts["changed"], counts["failed"], counts["pending"]) == (1, 1, 1)


def test_the_current_outcome_is_the_highest_sequence_then_the_latest_received(
    ledger: Ledger, cid: str
) -> None:
    ledger.open_change(cid, ["a"], issued_by="t", issued_at=T0)
    # Seq 5 arrives first; the older request's outcome (seq 2) arrives later, with a later
    # finished_at: neither the arrival nor the sender's clock makes it current.
    ledger.record(event(cid, "a", OutcomeStatus.CHANGED, 5), at(0))
    ledger.record(event(cid, "a", OutcomeStatus.FAILED, 2, finished_at=T0 + timedelta(1)), at(1))
    assert ledger.status(cid).outcomes["a"].status == OutcomeStatus.CHANGED
    # The same request again (a redelivery): the one received last wins, whatever its clock.
    ledger.record(event(cid, "a", OutcomeStatus.CONVERGED, 5, finished_at=T0 - timedelta(1)), at(2))
    counts = ledger.counts(cid)
    assert counts["converged"] == 1 and counts["changed"] == 0 and counts["failed"] == 0
    assert ledger.status(cid).outcomes["a"].status == OutcomeStatus.CONVERGED
    assert ledger.status(cid).done


def test_a_forged_future_outcome_does_not_hide_a_later_real_one(ledger: Ledger, cid: str) -> None:
    """Stored directly (past every check on the wire), an outcome stamped 2036 still ranks by
    the sequence of its request: the next real request's outcome is current."""
    ledger.open_change(cid, ["web-1"], issued_by="t", issued_at=T0)
    forged = event(cid, "web-1", OutcomeStatus.FAILED, 100, finished_at=FORGED)
    real = event(cid, "web-1", OutcomeStatus.CHANGED, 200, finished_at=T0)
    assert ledger.record(forged, at(0))
    assert ledger.record(real, at(1))
    status = ledger.status(cid)
    assert status.outcomes["web-1"].outcome_id == real.outcome_id
    assert status.counts()["changed"] == 1 and ledger.counts(cid)["failed"] == 0


def test_a_forged_future_outcome_on_the_wire_is_refused() -> None:
    forged = event("c", "web-1", OutcomeStatus.FAILED, 100, finished_at=FORGED)
    with pytest.raises(ValidationError, match="CLOCK_SKEW_S"):
        OutcomeEvent.model_validate_json(forged.model_dump_json(), context={ARRIVING: True})


def test_status_keeps_its_json_shape(ledger: Ledger, cid: str) -> None:
    ledger.open_change(cid, ["a", "b"], issued_by="ops@host", issued_at=T0, dry_run=True)
    ledger.record(event(cid, "a", OutcomeStatus.CHANGED, 1))
    shown = ledger.status(cid).as_json()
    assert {k: shown[k] for k in ("change_id", "issued_by", "dry_run", "target_count")} == {
        "change_id": cid,
        "issued_by": "ops@host",
        "dry_run": "1",
        "target_count": "2",
    }
    assert datetime.fromisoformat(shown["issued_at"]) == T0
    assert [row["target"] for row in shown["targets"]] == ["a", "b"]
    assert set(shown["targets"][0]) == {
        "target",
        "status",
        "changes",
        "error",
        "attempts",
        "trace_id",
        "worker",
        "finished_at",
    }
    assert shown["targets"][1]["status"] == "pending" and shown["counts"]["pending"] == 1


def test_only_lists_the_targets_in_one_status_with_the_whole_counts(
    ledger: Ledger, cid: str
) -> None:
    ledger.open_change(cid, ["a", "b", "c", "d"], issued_by="t", issued_at=T0)
    ledger.record(event(cid, "a", OutcomeStatus.FAILED, 1), at(0))
    ledger.record(event(cid, "b", OutcomeStatus.CHANGED, 1), at(0))
    ledger.record(event(cid, "c", OutcomeStatus.FAILED, 1), at(0))
    ledger.record(event(cid, "c", OutcomeStatus.CHANGED, 2), at(1))  # c recovered
    failed = ledger.status(cid, OutcomeStatus.FAILED)
    assert failed.targets == ["a"] and set(failed.outcomes) == {"a"}
    assert failed.counts() == ledger.counts(cid)
    assert failed.counts()["changed"] == 2 and failed.counts()["pending"] == 1
    assert ledger.status(cid, OutcomeStatus.PENDING).targets == ["d"]
    assert ledger.status(cid, OutcomeStatus.REJECTED).targets == []


def test_an_unknown_change_is_an_error(ledger: Ledger) -> None:
    with pytest.raises(UnknownChange):
        ledger.status(f"never-opened-{uuid.uuid4()}")
    with pytest.raises(UnknownChange):
        ledger.status(f"never-opened-{uuid.uuid4()}", OutcomeStatus.FAILED)
