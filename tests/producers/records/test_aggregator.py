"""The aggregator in batches, on the real broker and PostgreSQL: one transaction per batch,
acks only after the commit, duplicates change nothing, bad messages are dead-lettered."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from broker_config.senders import Senders
from contracts import OutcomeEvent, OutcomeStatus
from contracts.dead import REASON
from producers.records import batches
from producers.records.aggregator import Aggregator
from producers.records.batches import Held, write
from producers.records.compliance import observation
from producers.records.ledger import Ledger
from producers.store.compliance import Observation
from producers.store.refusals import outcome_refusals
from producers.store.url import ENV as DATABASE_ENV
from tests.databases import drop_database, make_database
from tests.isolation import Isolated, provision, wait_until
from tests.producers.records.conftest import Plane, outcome, running, stored


def test_a_burst_is_written_in_few_transactions_with_its_compliance(plane: Plane) -> None:
    events = [outcome(revision=3) for _ in range(150)]
    plane.publish([e.model_dump_json().encode() for e in events])  # waiting when it starts
    with running(plane) as (aggregator, raised):
        wait_until(lambda: aggregator.recorded >= 150, 30, "150 outcomes recorded")
    assert not raised and stored(plane, events) == 150
    ids = [e.outcome_id for e in events]
    targets = [e.target for e in events]
    # Rows written by one transaction share its id (xmin): a batch is one transaction.
    batches = plane.query(
        "SELECT count(DISTINCT xmin::text) FROM outcomes WHERE event_id = ANY(%s)", ids
    )[0][0]
    assert batches <= 5, f"150 outcomes took {batches} transactions"
    observed = plane.query(
        "SELECT count(*) FROM compliance_observations WHERE target = ANY(%s)", targets
    )[0][0]
    assert observed == 150
    applied = plane.query(
        "SELECT count(*) FROM applied_revisions WHERE target = ANY(%s) AND revision = 3", targets
    )[0][0]
    assert applied == 150
    assert plane.ready() == 0


def test_a_lone_outcome_is_written_at_once_not_when_the_batch_is_due(
    plane: Plane, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batching costs latency only under a backlog: with nothing else arriving, the held
    outcome is written at once, long before the batch's deadline (made an hour here)."""
    from producers.records import aggregator as module

    monkeypatch.setattr(module, "FLUSH_AFTER_S", 3600.0)
    with running(plane) as (aggregator, raised):
        for done in range(1, 4):  # one at a time: each is alone when it arrives
            event = outcome()
            plane.publish([event.model_dump_json().encode()])
            wait_until(lambda n=done: aggregator.recorded >= n, 20, "the lone outcome written")
            assert stored(plane, [event]) == 1
    assert not raised


def test_a_batch_is_one_transaction(plane: Plane, monkeypatch: pytest.MonkeyPatch) -> None:
    """When a later part of the batch fails in the database, its outcomes are not kept
    either: the observations are written after the outcomes, and one breaks a CHECK."""
    events = [outcome(revision=1) for _ in range(3)]
    now = datetime.now(UTC)
    batch = [Held(None, None, b"", e, now) for e in events]

    def unstorable(event: OutcomeEvent, at: datetime | None = None) -> Observation:
        return replace(observation(event, at), kind="not-a-kind")  # type: ignore[type-var]

    monkeypatch.setattr(batches, "observation", unstorable)
    with pytest.raises(psycopg.errors.CheckViolation), plane.db.connection() as conn:
        write(conn, batch)
    assert stored(plane, events) == 0
    monkeypatch.undo()
    with plane.db.connection() as conn:
        assert write(conn, batch + batch) == [e.outcome_id for e in events]
    with plane.db.connection() as conn:
        assert write(conn, batch) == []
    assert stored(plane, events) == 3


class _From:
    """A delivery's properties: only the sender RabbitMQ checked."""

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id


def test_a_batch_and_its_refusals_commit_together(plane: Plane) -> None:
    """On the aggregator's autocommit connection, a batch with a refusal in it is one
    transaction: when its write fails, the refusal is not kept either, so the batch's
    redelivery records it once; when it succeeds, both are there."""
    aggregator = Aggregator(plane.endpoints, plane.db, Senders(trusted=frozenset({"ops"})))
    now = datetime.now(UTC)
    forged = Held(None, _From("provision-worker-mars"), b"", outcome(), now)
    too_big = Held(None, _From("ops"), b"", outcome(revision=2**40), now)
    fine = Held(None, _From("ops"), b"", outcome(), now)
    with pytest.raises(psycopg.errors.NumericValueOutOfRange), plane.db.connection() as conn:
        aggregator._write(conn, [forged, too_big])
    with plane.db.connection() as conn:
        assert outcome_refusals(conn, change_id=forged.event.change_id) == []
        assert aggregator._write(conn, [forged, fine]) == (1, [fine.event.outcome_id])
        [refused] = outcome_refusals(conn, change_id=forged.event.change_id)
    assert forged.event.outcome_id in refused.reason
    assert stored(plane, [fine.event, forged.event, too_big.event]) == 1


def test_nothing_is_acked_while_the_database_is_away_and_each_outcome_lands_once(
    plane: Plane,
) -> None:
    events = [outcome() for _ in range(30)]
    bodies = [e.model_dump_json().encode() for e in events]
    plane.take_database_away()
    try:
        with running(plane) as (_, raised):
            plane.lost.clear()
            plane.publish(bodies)
            wait_until(lambda: plane.lost, 30, "the aggregator to lose the database")
        assert wait_until(lambda: plane.ready() == 30, 30, "every message back in the queue")
    finally:
        plane.give_database_back()
    assert stored(plane, events) == 0
    with running(plane) as (aggregator, raised):
        wait_until(lambda: aggregator.recorded >= 30, 60, "the redelivered outcomes")
        plane.publish(bodies)  # every one again: a duplicate changes nothing
        wait_until(lambda: aggregator.recorded >= 60, 30, "the duplicates")
    assert not raised
    assert stored(plane, events) == 30
    observed = plane.query(
        "SELECT count(*) FROM compliance_observations WHERE target = ANY(%s)",
        [e.target for e in events],
    )[0][0]
    assert observed == 30, "a duplicate adds no compliance observation"
    assert plane.ready() == 0


def test_a_database_lost_mid_run_is_survived_by_the_same_process(plane: Plane) -> None:
    before, after = [outcome() for _ in range(10)], [outcome() for _ in range(10)]
    with running(plane) as (aggregator, raised):
        plane.publish([e.model_dump_json().encode() for e in before])
        wait_until(lambda: aggregator.recorded >= 10, 30, "the first outcomes")
        plane.lost.clear()
        plane.take_database_away()
        try:
            plane.publish([e.model_dump_json().encode() for e in after])
            wait_until(lambda: plane.lost, 30, "the aggregator to lose the database")
        finally:
            plane.give_database_back()
        wait_until(lambda: aggregator.recorded >= 20, 90, "the outcomes held back")
    assert not raised
    assert stored(plane, before) == 10 and stored(plane, after) == 10


def test_bad_messages_are_dead_lettered_and_the_rest_of_the_batch_is_recorded(
    plane: Plane,
) -> None:
    plane.dead_letters()
    good = [outcome() for _ in range(5)]
    forged_clock = outcome(finished_at=datetime(2036, 1, 1, tzinfo=UTC))
    forged_sequence = outcome(sequence=int((datetime(2036, 1, 1).timestamp()) * 1e6))
    too_big = outcome(revision=2**40)  # valid JSON, refused by the database's integer
    bodies = [e.model_dump_json().encode() for e in good[:2]]
    bodies += [b"{not json", forged_clock.model_dump_json().encode()]
    bodies += [forged_sequence.model_dump_json().encode(), too_big.model_dump_json().encode()]
    bodies += [e.model_dump_json().encode() for e in good[2:]]
    with running(plane) as (aggregator, raised):
        plane.publish(bodies)
        wait_until(lambda: aggregator.recorded >= 5, 30, "the good outcomes")
        letters = wait_until(
            lambda: (found := plane.dead_letters()) and len(found) == 4 and found,
            30,
            "four dead letters",
        )
    assert not raised and stored(plane, good) == 5
    assert stored(plane, [forged_clock, forged_sequence, too_big]) == 0
    reasons = sorted(headers[REASON] for headers, _ in letters)
    assert sum("invalid outcome event" in r for r in reasons) == 3, reasons
    assert sum("CLOCK_SKEW_S" in r for r in reasons) == 2, reasons
    assert sum("unexpected error recording the outcome" in r for r in reasons) == 1, reasons
    ids = {json.loads(body)["outcome_id"] for _, body in letters if body.startswith(b'{"')}
    assert too_big.outcome_id in ids
    assert plane.ready() == 0


def test_status_counts_follow_the_request_sequence_not_the_arrival(plane: Plane) -> None:
    """A retried older request's outcome arriving last does not replace the newer one."""
    newer = outcome("seq-1", OutcomeStatus.CHANGED, sequence=20, change_id="agg-seq")
    older = outcome(
        "seq-1",
        OutcomeStatus.FAILED,
        sequence=10,
        change_id="agg-seq",
        finished_at=datetime.now(UTC) + timedelta(seconds=60),
    )
    with running(plane) as (aggregator, _):
        plane.publish([newer.model_dump_json().encode()])
        wait_until(lambda: aggregator.recorded >= 1, 30, "the newer outcome")
        plane.publish([older.model_dump_json().encode()])
        wait_until(lambda: aggregator.recorded >= 2, 30, "the older outcome")
    status = Ledger(plane.db).status("agg-seq")
    assert status.outcomes["seq-1"].outcome_id == newer.outcome_id
    assert status.counts()["changed"] == 1 and status.counts()["failed"] == 0


def test_an_aggregator_on_a_database_behind_says_what_to_run(session_services: Isolated) -> None:
    name = f"provisioning_test_behind_{uuid.uuid4().hex[:8]}"
    url = make_database(name, migrated=False)
    try:
        done = provision("aggregator", env={**session_services.env, DATABASE_ENV: url})
    finally:
        drop_database(name)
    assert done.returncode == 3, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "provision db migrate" in lines[0]
