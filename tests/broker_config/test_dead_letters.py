"""The one dead-letter builder: what lands in `provision.dead`, on a real broker."""

from __future__ import annotations

import json
from typing import Any

from broker_config import DEAD_QUEUE, declare
from broker_config.dead_letters import dead_letter, pika_send
from contracts.dead import ATTEMPTS, REASON, SOURCE, reason_of


def _get_one(amqp: Any) -> tuple[Any, bytes]:
    channel = amqp.channel()
    method, properties, body = channel.basic_get(DEAD_QUEUE, auto_ack=True)
    assert method is not None, "nothing reached provision.dead"
    return properties, body


def test_dead_letter_keeps_body_and_headers_and_says_why(amqp: Any) -> None:
    declare(amqp)
    amqp.channel().queue_purge(DEAD_QUEUE)
    dead_letter(
        pika_send(amqp),
        body={"b": 1},
        headers={"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01", "mine": "kept"},
        reason="bad field 'x': not an int",
        source="provision.events",
        exchange="provision.events",
        routing_key="change.created",
        attempts=3,
        correlation_id="corr-1",
    )
    properties, body = _get_one(amqp)
    assert json.loads(body) == {"b": 1}
    headers = properties.headers
    assert headers["mine"] == "kept"
    assert headers[REASON] == "bad field 'x': not an int"
    assert headers[SOURCE] == "provision.events"
    assert headers[ATTEMPTS] == 3
    assert properties.correlation_id == "corr-1"
    assert properties.content_type == "application/json"
    assert reason_of(headers)[3] == "change.created"
