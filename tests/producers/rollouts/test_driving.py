"""The driver in-process on real PostgreSQL, Redis and RabbitMQ: it takes everything it
decides from the system of record, so emptying Redis mid-rollout (or starting a new driver,
as a restarted controller does) publishes nothing twice and the rollout completes. Its heads
are read once, then again only when a rollout's row changes (the `rollout_changes` trigger's
announcement), when the driver wrote one itself, or when they have aged: an operator's pause
committed elsewhere stops the very next drive.

Outcomes are stored as the aggregator stores them (`producers.store.outcomes.record`);
no worker runs: requests are only counted on a queue of the test's own region.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any, cast

import pytest

from broker_config import declare, region_queue
from contracts import OutcomeStatus, Target
from contracts.events import ChangeEvent, RolloutState
from producers.messaging.publisher import Publisher
from producers.rollouts import counts as wave_counts
from producers.rollouts import heads as heads_module
from producers.rollouts.driver import Driver
from producers.rollouts.heads import Heads, listening
from producers.rollouts.planner import plan_rollout
from producers.rollouts.store import RolloutBook
from producers.store import outcomes
from tests.isolation import Isolated, Isolation, controller_key, wait_until
from tests.producers.store.factories import outcome

#: A region no worker serves: what is published stays queued for the test to count.
REGION = "drivetest"


@pytest.fixture
def iso(isolation: Isolation, monkeypatch: pytest.MonkeyPatch) -> Isolated:
    """The rollouts group; counts may be read again at every tick (no minimum age)."""
    monkeypatch.setattr(wave_counts, "COUNTS_MIN_AGE_S", 0.0)
    monkeypatch.setattr(wave_counts, "COUNTS_TIME_SHARE", 1.0e9)
    return isolation("rollouts")


@pytest.fixture
def channel(iso: Isolated) -> Iterator[Any]:
    """A channel on which the region's queue is declared, and purged after the test."""
    connection = iso.amqp()
    declare(connection, regions=[REGION])
    channel = connection.channel()
    channel.queue_purge(region_queue(REGION))
    yield channel
    channel.queue_delete(region_queue(REGION))
    connection.close()


def new_driver(iso: Isolated, book: RolloutBook, channel: Any) -> Driver:
    """A driver as a controller builds it. An inline rollout reads no revision and assigns
    none, so it gets neither a revision store nor assignments."""
    publisher = Publisher(channel.connection, controller_key())
    return Driver(iso.redis, book, publisher, cast(Any, None), cast(Any, None))


def queued(channel: Any) -> list[str]:
    """The targets of every request queued so far (taken off the queue)."""
    seen = []
    while True:
        method, _, body = channel.basic_get(region_queue(REGION), auto_ack=True)
        if method is None:
            return seen
        seen.append(json.loads(body)[1]["request"]["target"]["id"])


def report(iso: Isolated, driver: Driver, rid: str, *targets: str) -> None:
    """Each target's outcome stored by the aggregator, then its copy seen by the driver."""
    events = [outcome(t, OutcomeStatus.CHANGED, change_id=rid) for t in targets]
    with iso.database.connection() as conn:
        outcomes.record(conn, [outcomes.OutcomeRecord(e, 1) for e in events])
    for event in events:
        assert driver.noted(event)


def running(book: RolloutBook, targets: list[Target], policy: dict[str, Any] | None = None) -> str:
    """A rollout of `targets` booked and running (no controller: the test drives it)."""
    event = ChangeEvent.model_validate(
        {
            "event_id": str(uuid.uuid4()),
            "issued_by": "tests",
            "resources": [{"kind": "file", "path": "/etc/motd", "content": "hi\n"}],
            "targets": [t.model_dump(mode="json") for t in targets],
            **({"rollout": policy} if policy is not None else {}),
        }
    )
    assert book.create(event, plan_rollout(targets, event.rollout), targets)
    book.set_state(event.change_id, RolloutState.RUNNING)
    return event.change_id


def test_a_rollout_survives_flushdb_and_a_new_driver_without_publishing_twice(
    iso: Isolated, channel: Any
) -> None:
    book = RolloutBook(iso.database, iso.redis)
    targets = [
        Target(id=f"d{i}", region=REGION, environment="test", address=f"local:///t/d{i}")
        for i in range(6)
    ]
    rid = running(book, targets, {"waves": [2, "100%"], "max_in_flight": 3})
    driver = new_driver(iso, book, channel)

    driver.tick()
    assert sorted(queued(channel)) == ["d0", "d1"]
    report(iso, driver, rid, "d0", "d1")
    driver.tick()  # counts read anew (an outcome copy arrived): wave 0 is done
    assert book.meta(rid)["wave"] == "1"
    driver.tick()
    assert sorted(queued(channel)) == ["d2", "d3", "d4"], "max_in_flight 3 holds"

    iso.redis.flushdb()  # the in-flight leases go: nothing else may
    restarted = new_driver(iso, book, channel)  # and a restarted controller starts afresh
    restarted.tick()
    assert queued(channel) == ["d5"], "only the one never published; no lease is left"
    assert book.published(rid) == {f"d{i}" for i in range(6)}
    report(iso, restarted, rid, "d2", "d3", "d4", "d5")
    restarted.tick()
    assert book.meta(rid)["state"] == "completed"
    assert [t.to_state for t in book.transitions(rid)] == [
        RolloutState.PLANNED,
        RolloutState.RUNNING,
        RolloutState.COMPLETED,
    ]
    assert queued(channel) == []


def test_counts_are_read_again_once_an_outcome_copy_arrives_or_they_age(
    iso: Isolated, channel: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between copies the cached counts serve; a copy, or COUNTS_MAX_AGE_S, refreshes them
    (the aggregator may commit after the controller's copy arrives)."""
    book = RolloutBook(iso.database, iso.redis)
    target = Target(id="n0", region=REGION, environment="test", address="local:///t/n0")
    rid = running(book, [target])
    driver = new_driver(iso, book, channel)
    monkeypatch.setattr(wave_counts, "COUNTS_MAX_AGE_S", 3600.0)
    driver.tick()
    assert queued(channel) == ["n0"]
    late = outcome("n0", change_id=rid)
    with iso.database.connection() as conn:
        outcomes.record(conn, [outcomes.OutcomeRecord(late, 1)])
    driver.tick()
    assert book.meta(rid)["state"] == "running", "no copy yet, and the counts are fresh"
    assert driver.noted(late)
    assert not driver.noted(late.model_copy(update={"target": "not-in-the-rollout"}))
    assert not driver.noted(late.model_copy(update={"change_id": str(uuid.uuid4())}))
    driver.tick()
    assert book.meta(rid)["state"] == "completed"
    driver.tick()  # the finished rollout leaves the driver's cache...
    assert not driver.noted(late), "...and a late copy does not load it again"


@pytest.mark.parametrize("grace_s", [0.0, 3600.0])
def test_a_copy_that_comes_before_the_aggregators_commit_is_counted_within_the_grace(
    iso: Isolated, channel: Any, monkeypatch: pytest.MonkeyPatch, grace_s: float
) -> None:
    """The copy usually beats the aggregator's commit: counts are read again for
    COUNTS_GRACE_S after it, so a wave's last outcome advances the rollout then, not
    COUNTS_MAX_AGE_S later (here an hour; the control, no grace, waits for it)."""
    book = RolloutBook(iso.database, iso.redis)
    target = Target(id="g0", region=REGION, environment="test", address="local:///t/g0")
    rid = running(book, [target])
    driver = new_driver(iso, book, channel)
    monkeypatch.setattr(wave_counts, "COUNTS_MAX_AGE_S", 3600.0)
    monkeypatch.setattr(wave_counts, "COUNTS_GRACE_S", grace_s)
    driver.tick()
    assert queued(channel) == ["g0"]
    copy = outcome("g0", change_id=rid)
    assert driver.noted(copy)
    driver.tick()
    assert book.meta(rid)["state"] == "running", "the aggregator has not committed it yet"
    with iso.database.connection() as conn:
        outcomes.record(conn, [outcomes.OutcomeRecord(copy, 1)])
    driver.tick()
    assert book.meta(rid)["state"] == ("completed" if grace_s else "running")


def test_a_crash_between_a_batchs_publish_and_its_mark_republishes_that_batch_only(
    iso: Isolated, channel: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requests go out in batches, each marked in one statement after its confirms: a crash
    in between leaves that batch (and only it) to be published again by the next driver,
    and the workers' idempotency record applies each request once."""
    import psycopg

    from producers.rollouts import wave_publisher
    from producers.store.errors import DatabaseUnreachable

    monkeypatch.setattr(wave_publisher, "BATCH", 2)
    book = RolloutBook(iso.database, iso.redis)
    targets = [
        Target(id=f"b{i}", region=REGION, environment="test", address=f"local:///t/b{i}")
        for i in range(5)
    ]
    rid = running(book, targets, {"waves": ["100%"], "max_in_flight": 10})
    marks: list[list[str]] = []
    publishing = book.publishing

    def crashing(change_id: str) -> Any:
        """The book's marks, with the database lost at the second batch's mark."""
        from contextlib import contextmanager

        @contextmanager
        def scope() -> Iterator[Any]:
            with publishing(change_id) as mark:

                def marked(batch: list[str]) -> list[str]:
                    marks.append(list(batch))
                    if len(marks) == 2:
                        raise psycopg.OperationalError("the database went away")
                    return cast(list[str], mark(batch))

                yield marked

        return scope()

    monkeypatch.setattr(book, "publishing", crashing)
    with pytest.raises(DatabaseUnreachable):  # infrastructure: the controller restarts
        new_driver(iso, book, channel).tick()
    assert marks == [["b0", "b1"], ["b2", "b3"]]
    assert queued(channel) == ["b0", "b1", "b2", "b3"]  # the second batch went out unmarked
    assert book.published(rid) == {"b0", "b1"}

    monkeypatch.setattr(book, "publishing", publishing)
    new_driver(iso, book, channel).tick()
    assert queued(channel) == ["b2", "b3", "b4"], "the unmarked batch again, and the rest"
    assert book.published(rid) == {f"b{i}" for i in range(5)}


def test_outcomes_of_changes_with_no_rollout_cost_one_lookup_per_change(
    iso: Isolated, channel: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A direct `provision apply` of thousands of targets sends the controller as many
    outcome copies: the first tells the driver the change has no rollout; the rest are
    dropped without asking the database, for the last STRANGERS such changes."""
    from producers.rollouts import driver as driver_module

    monkeypatch.setattr(driver_module, "STRANGERS", 2)
    book = RolloutBook(iso.database, iso.redis)
    driver = new_driver(iso, book, channel)
    lookups: list[str] = []
    head = book.head
    monkeypatch.setattr(
        book, "head", lambda change_id: lookups.append(change_id) or head(change_id)
    )
    changes = [str(uuid.uuid4()) for _ in range(3)]
    for change_id in changes[:2]:
        for target in ("s0", "s1", "s2"):
            assert not driver.noted(outcome(target, OutcomeStatus.CHANGED, change_id=change_id))
    assert lookups == changes[:2]
    assert not driver.noted(outcome("s0", OutcomeStatus.CHANGED, change_id=changes[2]))
    assert not driver.noted(outcome("s1", OutcomeStatus.CHANGED, change_id=changes[0]))
    assert lookups == [*changes, changes[0]], "the oldest was forgotten, and asked again"


def test_counts_are_read_again_only_for_copies_that_can_change_the_next_step(
    iso: Isolated, channel: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A success while other requests of the rollout are still out cannot end the wave nor
    spend its budget: its copy does not make the counts be read again. A failure does, and
    so does the last answer awaited."""
    monkeypatch.setattr(wave_counts, "COUNTS_MAX_AGE_S", 3600.0)
    book = RolloutBook(iso.database, iso.redis)
    targets = [
        Target(id=f"q{i}", region=REGION, environment="test", address=f"local:///t/q{i}")
        for i in range(3)
    ]
    rid = running(book, targets, {"waves": ["100%"], "max_in_flight": 10, "max_failures": 1})
    reads: list[str] = []
    counted = book.wave_counts
    monkeypatch.setattr(book, "wave_counts", lambda r: reads.append(r.change_id) or counted(r))
    driver = new_driver(iso, book, channel)
    driver.tick()
    assert sorted(queued(channel)) == ["q0", "q1", "q2"] and reads
    first = len(reads)

    report(iso, driver, rid, "q0")
    driver.tick()
    assert len(reads) == first, "q1 and q2 are still out: the counts cannot have changed course"
    failed = outcome("q1", OutcomeStatus.FAILED, change_id=rid)
    with iso.database.connection() as conn:
        outcomes.record(conn, [outcomes.OutcomeRecord(failed, 1)])
    assert driver.noted(failed)
    driver.tick()
    assert len(reads) == first + 1, "a failure may spend the budget"
    report(iso, driver, rid, "q2")
    driver.tick()
    assert len(reads) == first + 2, "the last answer may end the wave"
    assert book.meta(rid)["state"] == "completed"


# -- the heads: read again only when announced (`heads`) -----------------------------------


@pytest.fixture
def listener(iso: Isolated) -> Iterator[Any]:
    with listening(iso.database_url) as conn:
        yield conn


def targets(prefix: str, count: int) -> list[Target]:
    return [
        Target(id=f"{prefix}{i}", region=REGION, environment="test", address=f"local:///t/{i}")
        for i in range(count)
    ]


def state_of(heads: Heads, rid: str) -> RolloutState | None:
    """The rollout's state in the driver's heads (other tests' rollouts may be there too)."""
    return next((h.state for h in heads.current() if h.rollout_id == rid), None)


def test_heads_are_read_again_only_once_a_change_is_announced(
    iso: Isolated, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(heads_module, "MAX_AGE_S", 3600.0)
    book = RolloutBook(iso.database, iso.redis)
    rid = running(book, targets("h", 1))  # committed before the LISTEN: never announced to it
    with listening(iso.database_url) as listener:
        heads = Heads(book, listener)
        assert state_of(heads, rid) == RolloutState.RUNNING
        for _ in range(5):
            heads.current()
        assert heads.reads == 1, "nothing changed: the cached heads serve"

        assert book.set_state(rid, RolloutState.PAUSED)  # an operator, on a connection of its own
        wait_until(lambda: state_of(heads, rid) == RolloutState.PAUSED, 10, "the pause seen")
        assert heads.reads == 2, "one announcement, one read"
        heads.current()
        assert heads.reads == 2

        heads.moved()  # the driver wrote a head itself: no need to wait for the news
        heads.current()
        assert heads.reads == 3


def test_heads_without_an_announcement_are_read_again_once_they_age(
    iso: Isolated, listener: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lost announcement (the trigger dropped by hand) costs at most MAX_AGE_S."""
    book = RolloutBook(iso.database, iso.redis)
    heads = Heads(book, listener)
    monkeypatch.setattr(heads_module, "MAX_AGE_S", 3600.0)
    heads.current()
    heads.current()
    assert heads.reads == 1
    monkeypatch.setattr(heads_module, "MAX_AGE_S", 0.0)
    heads.current()
    assert heads.reads == 2


def test_a_pause_committed_elsewhere_stops_the_next_drive(
    iso: Isolated, channel: Any, listener: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The driver publishes a wave, an operator pauses, a slot frees: the driver, which had
    cached the heads, publishes nothing more once the pause is announced; resumed, it
    publishes the rest."""
    monkeypatch.setattr(heads_module, "MAX_AGE_S", 3600.0)
    book = RolloutBook(iso.database, iso.redis)
    rid = running(book, targets("p", 3), {"waves": ["100%"], "max_in_flight": 1})
    driver = new_driver(iso, book, channel)
    driver.heads = Heads(book, listener)
    driver.tick()
    assert queued(channel) == ["p0"]
    assert book.set_state(rid, RolloutState.PAUSED, only_from=(RolloutState.RUNNING,))
    wait_until(lambda: state_of(driver.heads, rid) == RolloutState.PAUSED, 10, "the pause")
    report(iso, driver, rid, "p0")  # its slot frees while paused
    driver.tick()
    assert queued(channel) == [], "nothing is published while paused"

    assert book.set_state(rid, RolloutState.RUNNING, only_from=(RolloutState.PAUSED,))
    wait_until(lambda: state_of(driver.heads, rid) == RolloutState.RUNNING, 10, "resumed")
    driver.tick()
    assert queued(channel) == ["p1"]
