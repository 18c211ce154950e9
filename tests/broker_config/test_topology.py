"""The topology on a real RabbitMQ: idempotent, explicit about mismatches, never silent."""

from __future__ import annotations

import json
from typing import Any

import pika
import pytest

from broker_config import (
    DEAD_EXCHANGE,
    DEAD_QUEUE,
    RESULTS_QUEUE,
    TopologyMismatch,
    declare,
    region_queue,
)
from contracts import ChangeRequest
from contracts.controller_signatures import check_request
from producers.errors import PublishError, SelectionError
from producers.messaging.publisher import Publisher, task_message
from tests.isolation import controller_key, request_for


def test_declaring_twice_is_harmless(amqp: Any) -> None:
    first = declare(amqp, ["topo-a"])
    second = declare(amqp, ["topo-a"])
    assert first == second
    assert region_queue("topo-a") in first and RESULTS_QUEUE in first
    channel = amqp.channel()
    assert channel.queue_declare(region_queue("topo-a"), passive=True).method.queue


def test_a_differently_declared_queue_is_named_in_a_clear_error(amqp: Any) -> None:
    name = region_queue("topo-clash")
    channel = amqp.channel()
    channel.queue_declare(name, durable=False)
    with pytest.raises(TopologyMismatch) as info:
        declare(amqp, ["topo-clash"])
    assert info.value.name == name
    assert name in str(info.value) and "different properties" in str(info.value)
    assert amqp.is_open, "a mismatch must not take the connection down"
    amqp.channel().queue_delete(name)


def test_an_unroutable_publish_raises_instead_of_vanishing(amqp: Any) -> None:
    declare(amqp, [])
    publisher = Publisher(amqp, controller_key())
    with pytest.raises(PublishError, match="reached no queue"):
        publisher.publish(request_for(region="nowhere"))


def test_a_window_of_confirms_delivers_every_request_once(amqp: Any) -> None:
    """More requests than the window holds: each is confirmed, queued once, in order."""
    declare(amqp, ["topo-window"])
    queue = region_queue("topo-window")
    amqp.channel().queue_purge(queue)
    requests = [request_for(f"w-{i:03d}", region="topo-window") for i in range(600)]
    ids = Publisher(amqp, controller_key()).publish_all(requests)
    assert len(ids) == len(set(ids)) == 600
    channel = amqp.channel()
    assert channel.queue_declare(queue, passive=True).method.message_count == 600
    seen = []
    for _ in range(600):
        method, properties, _ = channel.basic_get(queue, auto_ack=True)
        assert method is not None
        seen.append(properties.correlation_id)
    assert seen == ids


def test_a_window_names_every_request_that_reached_no_queue(amqp: Any) -> None:
    declare(amqp, ["topo-mixed"])
    queue = region_queue("topo-mixed")
    amqp.channel().queue_purge(queue)
    requests = [
        request_for(f"m-{i}", region="nowhere" if i % 3 == 0 else "topo-mixed") for i in range(9)
    ]
    with pytest.raises(PublishError, match="3 of 9 change requests") as refused:
        Publisher(amqp, controller_key()).publish_all(requests)
    for lost in ("m-0", "m-3", "m-6"):
        assert f"{lost}: reached no queue" in str(refused.value)
    assert amqp.channel().queue_declare(queue, passive=True).method.message_count == 6


def test_an_unknown_region_is_refused_before_publishing(amqp: Any) -> None:
    publisher = Publisher(amqp)
    with pytest.raises(SelectionError, match="unknown region 'atlantis'"):
        publisher.ensure_regions(["atlantis"])


def test_a_request_is_a_celery_protocol_v2_message_routed_by_region(amqp: Any) -> None:
    declare(amqp, ["topo-b"])
    channel = amqp.channel()
    channel.queue_purge(region_queue("topo-b"))
    request = request_for(region="topo-b")
    task_id = Publisher(amqp, controller_key()).publish(request)
    method, properties, body = channel.basic_get(region_queue("topo-b"), auto_ack=True)
    assert method is not None and method.routing_key == "topo-b.test.t-1"
    assert properties.delivery_mode == pika.DeliveryMode.Persistent.value
    assert properties.headers["task"] == "provision.converge"
    assert properties.headers["id"] == task_id == properties.correlation_id
    assert properties.headers["traceparent"].startswith("00-")
    args, kwargs, embed = json.loads(body)
    assert args == [] and embed["chain"] is None
    sent = ChangeRequest.model_validate(kwargs["request"])
    assert sent.model_copy(update={"signature": None}) == request
    check_request(controller_key().public_key(), kwargs["request"])  # signed as it went out
    assert task_message(request)[0]["id"] == task_id


def test_an_old_fanout_dead_exchange_becomes_a_topic_one(amqp: Any) -> None:
    declare(amqp, [])
    channel = amqp.channel()
    channel.exchange_delete(DEAD_EXCHANGE)
    channel.exchange_declare(DEAD_EXCHANGE, exchange_type="fanout", durable=True)
    declare(amqp, [])
    # Declaring it as topic again would close the channel (406) if it were still fanout.
    amqp.channel().exchange_declare(DEAD_EXCHANGE, exchange_type="topic", durable=True)
    assert amqp.channel().queue_declare(DEAD_QUEUE, passive=True).method.queue == DEAD_QUEUE
