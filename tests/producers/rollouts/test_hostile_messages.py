"""Issue 10: each message that once crashed, wedged or flooded a service, replayed against
the running controller, worker and aggregator. Each is dead-lettered on `provision.dead`
with a reason naming the limit or the problem, the process is still the same one, and a
normal change converges afterwards."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pika
import pytest

from broker_config import (
    CHANGES_EXCHANGE,
    CHECKINS_EXCHANGE,
    DEAD_EXCHANGE,
    EVENTS_EXCHANGE,
    RESULTS_EXCHANGE,
)
from contracts.dead import REASON
from producers.messaging.publisher import signed as signed_request
from producers.messaging.publisher import task_message
from producers.processes.supervisor import Child
from tests.isolation import controller_key, request_for, signed_event_headers, wait_until
from tests.producers.rollouts.conftest import RolloutPlane, event, targets

NESTED = b"[" * 100_000  # 100 KB of `[`: valid UTF-8, RecursionError in json.loads


class Tap:
    """An exclusive queue on `provision.dead`: every dead letter from now on."""

    def __init__(self, fleet: RolloutPlane) -> None:
        self.connection = fleet.amqp()
        self.channel = self.connection.channel()
        self.queue = self.channel.queue_declare("", exclusive=True).method.queue
        self.channel.queue_bind(self.queue, DEAD_EXCHANGE, routing_key="#")  # a topic exchange
        self.seen: list[tuple[dict[str, Any], bytes]] = []

    def reason(self, marker: bytes | str, timeout_s: float = 30) -> str:
        """The reason of the first dead letter whose body or headers hold `marker`."""
        needle = marker.encode() if isinstance(marker, str) else marker

        def found() -> str | None:
            while True:
                method, properties, body = self.channel.basic_get(self.queue, auto_ack=True)
                if method is None:
                    break
                self.seen.append((dict(properties.headers or {}), body))
            for headers, body in self.seen:
                if needle in body or needle.decode(errors="replace") in repr(headers):
                    return str(headers.get(REASON))
            return None

        return str(wait_until(found, timeout_s, f"a dead letter with {marker!r}"))


@pytest.fixture
def tap(fleet: RolloutPlane) -> Iterator[Tap]:
    tap = Tap(fleet)
    yield tap
    tap.connection.close()


def publish(fleet: RolloutPlane, exchange: str, key: str, body: bytes, **props: Any) -> None:
    connection = fleet.amqp()
    channel = connection.channel()
    channel.confirm_delivery()
    channel.basic_publish(
        exchange, key, body, pika.BasicProperties(delivery_mode=2, **props), mandatory=True
    )
    connection.close()


def signed(fleet: RolloutPlane, body: bytes, **headers: Any) -> dict[str, Any]:
    """`headers` and the operator's signature of `body`: a poison event from a sender the
    controller trusts, so it meets the checks behind the signature."""
    return {**headers, **signed_event_headers(fleet.env["PROVISION_SIGNING_KEY"], body)}


def alive(*processes: Child | None) -> list[int]:
    pids = []
    for process in processes:
        assert process is not None and process.proc.poll() is None, process and process.text()
        pids.append(process.proc.pid)
    return pids


def converges(tmp_path: Path, fleet: RolloutPlane) -> None:
    """A normal change still rolls out end to end."""
    body = event(targets(tmp_path, 1, prefix=f"ok{uuid.uuid4().hex[:4]}-"))
    fleet.emit(body)
    assert fleet.wait_state(body["event_id"], {"completed", "halted"}, 90) == "completed"


def task(target_id: str, **headers: Any) -> tuple[dict[str, Any], bytes]:
    request = signed_request(controller_key(), request_for(target_id, address="local:///nowhere"))
    base, body = task_message(request)
    base.update(headers)
    return base, body


def test_poison_events_are_dead_lettered_and_the_controller_lives_on(
    tmp_path: Path, fleet: RolloutPlane, tap: Tap
) -> None:
    before = alive(fleet.controller)
    poison = signed(fleet, NESTED, poison="nested-event")
    publish(fleet, EVENTS_EXCHANGE, "x", NESTED, headers=poison)
    assert "PROVISION_LIMIT_JSON_DEPTH" in tap.reason("nested-event")

    huge = json.dumps({"event_id": str(uuid.uuid4()), "pad": "x" * (2 << 20)}).encode()
    publish(fleet, EVENTS_EXCHANGE, "x", huge, headers={"poison": "huge-event"})
    assert "PROVISION_LIMIT_EVENT_BYTES" in tap.reason("huge-event")

    slow = event(targets(tmp_path, 1, prefix="slow"), rate_per_s=1e-20)
    fleet.emit(slow)
    assert "rate_per_s 1e-20" in tap.reason(slow["event_id"])
    state = fleet.wait_state(slow["event_id"], {"rejected"})
    assert state == "rejected"
    shown = fleet.iso.provision("rollout", "status", slow["event_id"], "--json")
    assert shown.returncode == 0, shown.stderr
    refused = json.loads(shown.stdout)["refused"]
    assert refused["sha256"] == hashlib.sha256(json.dumps(slow).encode()).hexdigest()
    assert 0 < len(refused["excerpt"].encode()) <= 512 + 3 and refused["times"] == 1
    loaded = fleet.book.load(slow["event_id"])
    assert loaded is not None and loaded.event is None  # only the digest and the excerpt

    many = event(targets(tmp_path, 1, prefix="many"))
    many["rollout"] = {"waves": [1] * 101}
    fleet.emit(many)
    assert "PROVISION_LIMIT_WAVES" in tap.reason(many["event_id"])

    assert alive(fleet.controller) == before
    converges(tmp_path, fleet)


def test_poison_check_ins_are_refused_and_the_controller_lives_on(
    tmp_path: Path, fleet: RolloutPlane, tap: Tap
) -> None:
    before = alive(fleet.controller)
    assert ask(fleet, b"[" * 10_000, "nested-in") == {"admitted": False, "refused": "refused"}
    assert "PROVISION_LIMIT_JSON_DEPTH" in tap.reason("nested-in")

    # reply_to naming a queue of ours, or a forged direct reply-to name (on RabbitMQ 3.10 a
    # reply published to it closes the publishing connection with 541 INTERNAL_ERROR)
    forged = "amq.rabbitmq.reply-to.g1hkABNyYWJiaXRAbG9jYWxob3N0AAAAAAAAAAAAAAAAAAAAAAAA.abc"
    sent_at = datetime.now(UTC).isoformat()  # well-formed, with a made-up proof
    fields = {"target": "t1", "nonce": "n" * 22, "sent_at": sent_at, "proof": "x" * 86}
    checkin = json.dumps(fields).encode()
    for reply_to in ("provision.events", forged):
        publish(fleet, CHECKINS_EXCHANGE, "t1", checkin, reply_to=reply_to, headers={"r": "x"})
    assert "is not direct reply-to" in tap.reason("'provision.events'")
    # the desk still answers, and tells an unknown agent no more than "refused"
    assert ask(fleet, checkin, "after") == {"admitted": False, "refused": "refused"}
    assert alive(fleet.controller) == before
    converges(tmp_path, fleet)
    assert alive(fleet.controller) == before


def ask(fleet: RolloutPlane, body: bytes, marker: str) -> Any:
    """One check-in over direct reply-to, as an agent sends it; the decoded reply."""
    connection = fleet.amqp()
    try:
        channel = connection.channel()
        replies: list[bytes] = []
        channel.basic_consume(
            "amq.rabbitmq.reply-to", lambda ch, m, p, reply: replies.append(reply), auto_ack=True
        )
        properties = pika.BasicProperties(
            reply_to="amq.rabbitmq.reply-to", correlation_id=marker, headers={"poison": marker}
        )
        channel.basic_publish(CHECKINS_EXCHANGE, "t", body, properties)
        wait_until(lambda: connection.process_data_events(time_limit=0.2) or replies, 30, "a reply")
        return json.loads(replies[0])
    finally:
        connection.close()


def test_poison_task_messages_are_dead_lettered_and_the_worker_lives_on(
    tmp_path: Path, fleet: RolloutPlane, tap: Tap
) -> None:
    before = alive(fleet.worker)
    cases = {
        "unpack": (task("h-unpack")[0], b'{"a": 1}', "[args, kwargs, embed]"),
        "builtin": (task("h-builtin", task="celery.accumulate")[0], None, "is not allowed"),
        "eta": (task("h-eta", eta="2099-01-01T00:00:00+00:00")[0], None, "ETA_HORIZON_S"),
        "nested": (task("h-nested")[0], NESTED, "PROVISION_LIMIT_JSON_DEPTH"),
    }
    for name, (headers, body, _) in cases.items():
        headers["id"] = f"poison-{name}"
        raw = body if body is not None else task(f"h-{name}")[1]
        publish(
            fleet,
            CHANGES_EXCHANGE,
            "eu.test.poison",
            raw,
            headers=headers,
            content_type="application/json",
            content_encoding="utf-8",
        )
    headers, body = task("h-callback")
    args, kwargs, embed = json.loads(body)
    embed["callbacks"] = [{"task": "celery.accumulate", "args": [], "kwargs": {}}]
    headers["id"] = "poison-callback"
    publish(
        fleet,
        CHANGES_EXCHANGE,
        "eu.test.poison",
        json.dumps([args, kwargs, embed]).encode(),
        headers=headers,
        content_type="application/json",
        content_encoding="utf-8",
    )
    for name, (_, _, expected) in cases.items():
        assert expected in tap.reason(f"poison-{name}"), name
    assert "embedded callbacks refused" in tap.reason("poison-callback")
    assert alive(fleet.worker) == before
    converges(tmp_path, fleet)
    assert alive(fleet.worker) == before


def test_poison_outcomes_are_dead_lettered_and_the_aggregator_lives_on(
    tmp_path: Path, fleet: RolloutPlane, tap: Tap
) -> None:
    before = alive(fleet.aggregator, fleet.controller)
    publish(fleet, RESULTS_EXCHANGE, "eu.test.x", NESTED, headers={"poison": "nested-outcome"})
    assert "PROVISION_LIMIT_JSON_DEPTH" in tap.reason("nested-outcome")
    big = b'{"pad": "' + b"x" * (300 << 10) + b'"}'
    publish(fleet, RESULTS_EXCHANGE, "eu.test.x", big, headers={"poison": "big-outcome"})
    assert "PROVISION_LIMIT_OUTCOME_BYTES" in tap.reason("big-outcome")
    assert alive(fleet.aggregator, fleet.controller) == before
    converges(tmp_path, fleet)


def test_remote_control_is_off(fleet: RolloutPlane) -> None:
    from celery import Celery

    client = Celery(broker=fleet.env["PROVISION_BROKER_URL"])
    assert client.control.ping(timeout=2.0) == []
    client.control.shutdown()
    assert alive(fleet.worker)
