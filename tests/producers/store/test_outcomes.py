"""Outcomes: batch inserts, duplicates, and the order of what the system observed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from contracts import OutcomeStatus
from producers.store import changes, outcomes
from tests.producers.store.factories import T0, outcome, received

FORGED = datetime(2036, 1, 1, tzinfo=UTC)


def _count(db: psycopg.Connection) -> int:
    row = db.execute("SELECT count(*) FROM outcomes").fetchone()
    return int(row[0]) if row else 0


def test_a_batch_is_inserted_at_once_and_returns_the_new_event_ids(db: psycopg.Connection) -> None:
    batch = [received(outcome(f"web-{i}"), 1, i) for i in range(50)]
    assert outcomes.record(db, batch) == [r.event.outcome_id for r in batch]
    assert _count(db) == 50
    stored = outcomes.current(db, "web-7")
    assert stored is not None and stored.event == batch[7].event
    assert stored.received_at == T0 + timedelta(seconds=7)


def test_a_duplicate_changes_nothing_within_a_batch_or_across_batches(
    db: psycopg.Connection,
) -> None:
    first = outcome("web-1", OutcomeStatus.CHANGED, outcome_id="ev-1")
    assert outcomes.record(db, [received(first, 1, 0)]) == ["ev-1"]
    again = outcome("web-1", OutcomeStatus.FAILED, outcome_id="ev-1")  # same id, other content
    fresh = outcome("web-2", outcome_id="ev-2")
    batch = [received(again, 9, 5), received(fresh, 1, 5), received(fresh, 1, 6)]
    assert outcomes.record(db, batch) == ["ev-2"]
    assert _count(db) == 2
    stored = outcomes.current(db, "web-1")
    assert stored is not None
    assert stored.event.status == OutcomeStatus.CHANGED and stored.sequence == 1
    assert outcomes.record(db, []) == []


def test_a_forged_future_finished_at_does_not_hide_later_outcomes(db: psycopg.Connection) -> None:
    forged = outcome("web-1", OutcomeStatus.FAILED, finished_at=FORGED, change_id="c1")
    later = outcome("web-1", OutcomeStatus.CHANGED, finished_at=T0, change_id="c2")
    outcomes.record(db, [received(forged, 100, 0)])
    outcomes.record(db, [received(later, 200, 10)])
    current = outcomes.current(db, "web-1")
    assert current is not None and current.event.outcome_id == later.outcome_id
    assert [s.event.outcome_id for s in outcomes.history(db, "web-1")] == [
        later.outcome_id,
        forged.outcome_id,
    ]


def test_same_sequence_retries_are_ordered_by_receive_time_not_by_the_sender(
    db: psycopg.Connection,
) -> None:
    forged = outcome("web-1", OutcomeStatus.FAILED, finished_at=FORGED)
    retry = outcome("web-1", OutcomeStatus.CHANGED, finished_at=T0)
    outcomes.record(db, [received(forged, 7, 0), received(retry, 7, 3)])
    latest = outcomes.latest_in_change(db, "change-1")
    assert latest["web-1"].event.outcome_id == retry.outcome_id


def test_the_higher_sequence_wins_even_when_it_arrived_first(db: psycopg.Connection) -> None:
    newer = outcome("web-1", OutcomeStatus.CHANGED, change_id="c2")
    older = outcome("web-1", OutcomeStatus.SUPERSEDED, change_id="c1")
    outcomes.record(db, [received(newer, 20, 0)])
    outcomes.record(db, [received(older, 10, 60)])  # a late redelivery of an older request
    current = outcomes.current(db, "web-1")
    assert current is not None and current.event.outcome_id == newer.outcome_id


def test_outcomes_of_a_change_by_status_and_counts_with_pending(db: psycopg.Connection) -> None:
    changes.open_change(db, "c1", ["a", "b", "c", "d"], issued_by="test", issued_at=T0)
    outcomes.record(
        db,
        [
            received(outcome("a", OutcomeStatus.FAILED, change_id="c1"), 1, 0),
            received(outcome("a", OutcomeStatus.CHANGED, change_id="c1"), 1, 5),  # its retry
            received(outcome("b", OutcomeStatus.FAILED, change_id="c1"), 1, 1),
            received(outcome("c", OutcomeStatus.CONVERGED, change_id="c1"), 1, 2),
            received(outcome("x", OutcomeStatus.FAILED, change_id="other"), 1, 2),
        ],
    )
    assert [s.event.target for s in outcomes.by_status(db, "c1", OutcomeStatus.FAILED)] == ["b"]
    assert [s.event.target for s in outcomes.by_status(db, "c1", OutcomeStatus.CHANGED)] == ["a"]
    counts = outcomes.counts(db, "c1")
    assert counts["changed"] == 1 and counts["failed"] == 1 and counts["converged"] == 1
    assert counts["pending"] == 1 and sum(counts.values()) == 4


def test_a_targets_history_spans_changes_newest_first(db: psycopg.Connection) -> None:
    ids = []
    for n in range(3):
        event = outcome("web-1", change_id=f"c{n}")
        outcomes.record(db, [received(event, 10 * (n + 1), n)])
        ids.append(event.outcome_id)
    outcomes.record(db, [received(outcome("web-2"), 99, 9)])
    assert [s.event.outcome_id for s in outcomes.history(db, "web-1")] == ids[::-1]
    assert [s.event.change_id for s in outcomes.history(db, "web-1", limit=2)] == ["c2", "c1"]


def test_failed_targets_of_the_last_hour_by_receive_time(db: psycopg.Connection) -> None:
    now = datetime.now(UTC)
    recent = outcome("web-1", OutcomeStatus.FAILED)
    also = outcome("web-1", OutcomeStatus.NOT_READY)
    old_but_forged = outcome("web-2", OutcomeStatus.FAILED, finished_at=FORGED)
    fine = outcome("web-3", OutcomeStatus.CHANGED)
    outcomes.record(
        db,
        [
            received(recent, 1, -600, base=now),
            received(also, 1, -60, base=now),
            received(old_but_forged, 1, -7200, base=now),
            received(fine, 1, -30, base=now),
        ],
    )
    failed = outcomes.failed_since(db, timedelta(hours=1), now=now)
    assert [(s.event.target, s.event.outcome_id) for s in failed] == [("web-1", also.outcome_id)]


def test_hostile_text_is_stored_harmlessly_without_failing_the_batch(
    db: psycopg.Connection,
) -> None:
    hostile = outcome("web-1", worker="evil\x00worker", trace_id="\x00" * 3)
    normal = outcome("web-2")
    assert len(outcomes.record(db, [received(hostile, 1, 0), received(normal, 1, 0)])) == 2
    row = db.execute("SELECT worker FROM outcomes WHERE target = 'web-1'").fetchone()
    assert row is not None and row[0] == "evil\ufffdworker"
    stored = outcomes.current(db, "web-1")
    assert stored is not None and stored.event.worker == "evil\x00worker"  # JSON keeps it


def test_outcomes_are_append_only(db: psycopg.Connection) -> None:
    outcomes.record(db, [received(outcome("web-1"), 1, 0)])
    for statement in ("UPDATE outcomes SET status = 'failed'", "DELETE FROM outcomes"):
        refused = pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only")
        with refused, db.transaction():
            db.execute(statement)
    assert _count(db) == 1
