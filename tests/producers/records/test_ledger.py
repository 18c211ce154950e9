"""The ledger on a real Redis: idempotent recording, latest outcome wins, pending derived."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts import OutcomeEvent, OutcomeStatus
from producers.errors import UnknownChange
from producers.records.ledger import Ledger

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def event(
    change_id: str, target: str, status: OutcomeStatus, at_s: float, outcome_id: str | None = None
) -> OutcomeEvent:
    return OutcomeEvent(
        outcome_id=outcome_id or str(uuid.uuid4()),
        change_id=change_id,
        target=target,
        status=status,
        worker="w",
        started_at=T0,
        finished_at=T0 + timedelta(seconds=at_s),
    )


@pytest.fixture
def ledger(redis_client: Any) -> Ledger:
    return Ledger(redis_client)


def test_recording_the_same_event_twice_changes_nothing(ledger: Ledger) -> None:
    cid = str(uuid.uuid4())
    ledger.open_change(cid, ["a", "b"], issued_by="t", issued_at=T0)
    first = event(cid, "a", OutcomeStatus.CHANGED, 1)
    assert ledger.record(first) is True
    before = (ledger.counts(cid), ledger.status(cid).as_json())
    assert ledger.record(first) is False
    assert (ledger.counts(cid), ledger.status(cid).as_json()) == before
    assert before[0]["changed"] == 1 and before[0]["pending"] == 1


def test_the_latest_outcome_per_target_wins_whatever_the_arrival_order(ledger: Ledger) -> None:
    cid = str(uuid.uuid4())
    ledger.open_change(cid, ["a"], issued_by="t", issued_at=T0)
    ledger.record(event(cid, "a", OutcomeStatus.CHANGED, 5))
    assert ledger.record(event(cid, "a", OutcomeStatus.FAILED, 2)) is False
    ledger.record(event(cid, "a", OutcomeStatus.CONVERGED, 9))
    counts = ledger.counts(cid)
    assert counts["converged"] == 1 and counts["changed"] == 0 and counts["failed"] == 0
    assert ledger.status(cid).outcomes["a"].status == OutcomeStatus.CONVERGED
    assert ledger.status(cid).done


def test_an_unknown_change_is_an_error(ledger: Ledger) -> None:
    with pytest.raises(UnknownChange):
        ledger.status("never-opened")
