"""The rollout book on real PostgreSQL and Redis, in-process: what it keeps, and that none
of it is in Redis (FLUSHDB changes nothing it reads)."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from contracts import OutcomeStatus, Target
from contracts.events import ChangeEvent, RolloutPolicy, RolloutState
from producers.rollouts.planner import plan_rollout
from producers.rollouts.progress import Settled, settled, totals
from producers.rollouts.status import status_json
from producers.rollouts.store import RolloutBook
from producers.store import outcomes
from tests.isolation import Isolated, Isolation
from tests.producers.store.factories import T0, outcome, received

SECRET = "db_password=hunter2"
SENSITIVE = [
    {"kind": "file", "path": "/etc/app/secret.env", "content": SECRET + "\n", "sensitive": True},
    {"kind": "line", "path": "/etc/app/secret.env", "line": "api_key=0p3n"},
]
PLAIN = [{"kind": "file", "path": "/etc/motd", "content": "hi\n"}]


@pytest.fixture
def iso(isolation: Isolation) -> Isolated:
    """The rollouts group (not fresh: a fleet already running keeps running)."""
    return isolation("rollouts")


@pytest.fixture
def book(iso: Isolated) -> RolloutBook:
    return RolloutBook(iso.database, iso.redis)


def fleet(prefix: str, count: int) -> list[Target]:
    return [
        Target(id=f"{prefix}{i}", region="eu", environment="test", address=f"local:///t/{i}")
        for i in range(count)
    ]


def change(targets: list[Target], resources: list[dict[str, Any]], **policy: Any) -> ChangeEvent:
    return ChangeEvent.model_validate(
        {
            "event_id": str(uuid.uuid4()),
            "issued_by": "tests",
            "resources": resources,
            "targets": [t.model_dump(mode="json") for t in targets],
            "rollout": policy,
        }
    )


def created(
    book: RolloutBook, targets: list[Target], resources: list[dict[str, Any]] = PLAIN, **policy: Any
) -> ChangeEvent:
    event = change(targets, resources, **policy)
    assert book.create(event, plan_rollout(targets, event.rollout), targets, trace={"a": "b"})
    return event


def row(iso: Isolated, rollout_id: str) -> dict[str, Any]:
    with iso.database.connection() as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        found = cur.execute("SELECT * FROM rollouts WHERE rollout_id = %s", (rollout_id,))
        return dict(found.fetchone() or {})


def test_create_is_idempotent_and_the_plan_comes_back(book: RolloutBook) -> None:
    targets = fleet("c", 5)
    event = created(book, targets, waves=[1, "100%"], max_failures=1)
    again = event.model_copy(update={"issued_by": "someone else"})
    assert not book.create(again, plan_rollout(targets[:1], RolloutPolicy()), targets[:1])
    loaded = book.load(event.change_id)
    assert loaded is not None and loaded.event is not None
    assert [w.targets for w in loaded.plan.waves] == [("c0",), ("c1", "c2", "c3", "c4")]
    assert loaded.event.issued_by == "tests" and loaded.trace == {"a": "b"}
    assert loaded.targets == {t.id: t for t in targets} and loaded.revision is None
    assert book.meta(event.change_id)["state"] == "planned"
    assert book.load(str(uuid.uuid4())) is None and book.meta("nope") == {}


def test_every_transition_is_recorded_with_its_reason(book: RolloutBook) -> None:
    rid = created(book, fleet("s", 2)).change_id
    assert book.set_state(rid, RolloutState.RUNNING)
    assert book.set_state(rid, RolloutState.PAUSED, "paused by operator")
    assert not book.set_state(rid, RolloutState.PAUSED, "paused by operator")  # unchanged
    assert book.set_state(rid, RolloutState.RUNNING, "resumed by operator")
    assert book.set_state(rid, RolloutState.ABORTED, "aborted by operator")
    assert not book.set_state(rid, RolloutState.RUNNING)  # a final state is never left
    halted = created(book, fleet("h", 1)).change_id
    book.set_state(halted, RolloutState.HALTED, "wave 0: 1 of 1 failed")
    running = {RolloutState.RUNNING}
    assert not book.set_state(halted, RolloutState.PAUSED, "paused by operator", only_from=running)
    assert book.meta(halted)["state"] == "halted"  # an operator's pause raced the halt: lost
    steps = [(t.from_state, t.to_state, t.reason) for t in book.transitions(rid)]
    assert steps == [
        (None, RolloutState.PLANNED, "planned"),
        (RolloutState.PLANNED, RolloutState.RUNNING, ""),
        (RolloutState.RUNNING, RolloutState.PAUSED, "paused by operator"),
        (RolloutState.PAUSED, RolloutState.RUNNING, "resumed by operator"),
        (RolloutState.RUNNING, RolloutState.ABORTED, "aborted by operator"),
    ]
    shown = status_json(book, rid)
    assert shown["state"] == "aborted" and shown["reason"] == "aborted by operator"
    assert [(t["from"], t["to"]) for t in shown["transitions"]][-1] == ("running", "aborted")
    assert rid not in book.active()


def test_a_target_is_published_once(book: RolloutBook) -> None:
    rid = created(book, fleet("p", 3)).change_id
    assert book.mark_published(rid, "p1")
    assert not book.mark_published(rid, "p1")
    assert not book.mark_published(rid, "elsewhere")  # not a target of this rollout
    assert book.published(rid) == {"p1"} and book.published_count(rid) == 1


def test_wave_counts_are_the_stored_current_outcomes_and_survive_flushdb(
    book: RolloutBook, iso: Isolated
) -> None:
    targets = fleet("w", 4)
    event = created(book, targets, waves=[2, "100%"])
    rid = event.change_id
    book.set_state(rid, RolloutState.RUNNING)
    book.advance_wave(rid, 1)
    book.pause_until(rid, (T0 + timedelta(seconds=5)).timestamp())
    for target in ("w0", "w1", "w2"):
        book.mark_published(rid, target)
    forged = T0 + timedelta(days=3650)  # a sender's clock in 2036 orders nothing
    batch = [
        received(outcome("w0", change_id=rid), 1, 0),
        received(outcome("w1", OutcomeStatus.FAILED, change_id=rid, finished_at=forged), 1, 1),
        received(outcome("w1", change_id=rid), 2, 2),  # a later request: it is current
        received(outcome("w2", OutcomeStatus.REJECTED, change_id=rid), 7, 3),
        received(outcome("w2", change_id=rid, finished_at=forged), 6, 4),  # an older request
        received(outcome("w3", change_id="another-change"), 9, 5),
    ]
    with iso.database.connection() as conn:
        assert len(outcomes.record(conn, batch)) == len(batch)
    rollout = book.load(rid)
    assert rollout is not None
    before = book.wave_counts(rollout)
    assert {k: v for k, v in before[0].items() if v} == {"changed": 2}
    assert {k: v for k, v in before[1].items() if v} == {"rejected": 1, "pending": 1}
    shown = status_json(book, rid)

    iso.redis.flushdb()

    assert book.wave_counts(rollout) == before
    assert status_json(book, rid) == shown
    assert book.meta(rid)["wave"] == "1" and book.meta(rid)["next_wave_at"]
    assert book.published(rid) == {"w0", "w1", "w2"} and rid in book.active()


def test_a_rollout_keeps_no_secret_but_delivers_it_until_it_ends(
    book: RolloutBook, iso: Isolated
) -> None:
    rid = created(book, fleet("x", 1), SENSITIVE).change_id
    stored = row(iso, rid)
    assert "hunter2" not in stored["event_json"] and "0p3n" not in stored["event_json"]
    assert "sha256:" in stored["event_json"]
    loaded = book.load(rid)
    assert loaded is not None and loaded.event is not None
    assert loaded.event.resources[0].content == SECRET + "\n"  # what its waves deliver
    book.set_state(rid, RolloutState.RUNNING)
    assert row(iso, rid)["delivered_resources"] is not None
    book.set_state(rid, RolloutState.HALTED, "wave 0: too many failures")
    assert "hunter2" not in json.dumps(row(iso, rid), default=str)
    with pytest.raises(psycopg.errors.CheckViolation), iso.database.connection() as conn:
        conn.execute("UPDATE rollouts SET delivered_resources = 'x' WHERE rollout_id = %s", (rid,))
    plain = created(book, fleet("y", 1)).change_id
    assert row(iso, plain)["delivered_resources"] is None  # the redacted event is whole


def test_a_refused_event_keeps_its_digest_and_a_redacted_excerpt(
    book: RolloutBook, iso: Isolated
) -> None:
    rid = str(uuid.uuid4())
    body = json.dumps({"event_id": rid, "resources": SENSITIVE, "bogus": 1}).encode()
    assert book.reject(rid, "bogus: extra inputs are not permitted", body)
    assert book.reject(rid, "bogus: extra inputs are not permitted", body)  # again: counted
    shown = status_json(book, rid)
    assert shown["state"] == "rejected" and "bogus" in shown["reason"]
    refused = shown["refused"]
    assert refused["sha256"] == hashlib.sha256(body).hexdigest()
    assert refused["size"] == len(body) and refused["times"] == 2
    assert "hunter2" not in refused["excerpt"] and "0p3n" not in refused["excerpt"]
    assert "sensitive sha256:" in refused["excerpt"]
    assert row(iso, rid)["event_json"] is None

    real = created(book, fleet("r", 1)).change_id
    assert not book.reject(real, "a forged copy", b"{}")  # a real rollout is left alone
    assert book.meta(real)["state"] == "planned"
    assert status_json(book, real)["refused"] is None


class Statuses:
    """Stands in for the ledger's `status`: what `settled` hands back at the end."""

    def status(self, change_id: str) -> str:
        return f"status of {change_id}"


def test_a_rollout_settles_once_it_stopped_and_every_published_target_reported(
    book: RolloutBook, iso: Isolated
) -> None:
    rid = created(book, fleet("e", 3)).change_id
    ledger: Any = Statuses()
    book.set_state(rid, RolloutState.RUNNING)
    book.mark_published(rid, "e0")
    book.mark_published(rid, "e1")
    assert settled(book, ledger, rid) is None  # still running
    book.set_state(rid, RolloutState.HALTED, "wave 0: 1 of 3 failed")
    with iso.database.connection() as conn:
        outcomes.record(conn, [received(outcome("e0", OutcomeStatus.FAILED, change_id=rid), 1, 0)])
    assert settled(book, ledger, rid) is None  # e1 was published and has not reported
    with iso.database.connection() as conn:
        outcomes.record(conn, [received(outcome("e1", change_id=rid), 1, 1)])
    assert totals(book, rid) == {
        **dict.fromkeys(totals(book, rid), 0),
        "failed": 1,
        "changed": 1,
        "pending": 1,
    }
    end = settled(book, ledger, rid)
    assert end == Settled(RolloutState.HALTED, "wave 0: 1 of 3 failed", ledger.status(rid), True)

    refused = str(uuid.uuid4())
    book.reject(refused, "not JSON", b"{")
    assert settled(book, ledger, refused) == Settled(RolloutState.REJECTED, "not JSON", None, True)
    assert settled(book, ledger, str(uuid.uuid4())) is None
