"""The AMQP `user_id` property, as RabbitMQ enforces it and as our publishers set it.

RabbitMQ itself refuses a publish whose `user_id` is not the connection's user
(PRECONDITION_FAILED, 406, on the channel), so a consumer can trust it to name the sender.
Every road of ours sets it: pika (the controller's publisher), kombu (a worker's outcomes)
and Celery's task publishing (a worker's retries).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pika
import pytest
from celery import Celery
from kombu import Exchange, Queue

from broker_config import RESULTS_EXCHANGE, RESULTS_QUEUE, RETRIES_EXCHANGE, region_queue
from broker_config.connections import speaks_as
from contracts import OutcomeEvent, OutcomeStatus
from producers.messaging.publisher import Publisher
from tests.isolation import controller_key, request_for
from tests.producers.access.conftest import AccessVhost
from tests.producers.access.test_access import attempt

pytestmark = pytest.mark.slow


def publish_as(user_id: str | None) -> Any:
    def action(channel: Any) -> None:
        props = pika.BasicProperties(delivery_mode=2, user_id=user_id)
        channel.basic_publish(RESULTS_EXCHANGE, "eu.prod.web-1", b"{}", props)

    return action


def test_rabbitmq_refuses_a_user_id_that_is_not_the_connections_user(
    applied: AccessVhost,
) -> None:
    eu = applied.url("worker", "eu")
    own = f"{applied.prefix}-worker-eu"
    assert attempt(eu, publish_as(own)) == 0
    assert attempt(eu, publish_as(f"{applied.prefix}-worker-us")) == 406  # PRECONDITION_FAILED
    assert attempt(eu, publish_as("guest")) == 406
    agent = applied.url("agent", "web-1")
    assert attempt(agent, publish_as(f"{applied.prefix}-agent-web-1")) == 0
    assert attempt(agent, publish_as(f"{applied.prefix}-agent-web-2")) == 406


def taken(applied: AccessVhost, marker: str, queue: str = RESULTS_QUEUE) -> Any:
    """The properties of the message in `queue` whose body holds `marker` (others stay)."""
    connection = applied.iso.amqp()
    try:
        channel = connection.channel()
        while True:
            method, props, body = channel.basic_get(queue)
            if method is None:
                return None
            if marker.encode() in body:
                channel.basic_ack(method.delivery_tag)
                return props
    finally:
        connection.close()


def worker_app(url: str) -> Celery:
    """A Celery app as a worker's (workers.delivery.app.configure, not its global app):
    confirmed publishing, queues never declared, on the eu worker's URL."""
    app = Celery("user-id-test", broker=url)
    retries = Exchange(RETRIES_EXCHANGE, "topic", no_declare=True)
    queue = Queue(region_queue("eu"), retries, routing_key="eu.retry", no_declare=True)
    app.conf.update(
        broker_transport_options={"confirm_publish": True},
        task_queues=[queue],
        task_default_queue=queue.name,
        task_create_missing_queues=False,
    )
    return app


def test_kombu_outcomes_and_celery_task_messages_carry_the_workers_user(
    applied: AccessVhost,
) -> None:
    from workers.delivery.report import report, user_of

    app = worker_app(applied.url("worker", "eu"))
    own = f"{applied.prefix}-worker-eu"
    assert user_of(app) == own
    now = datetime.now(UTC)
    event = OutcomeEvent(
        outcome_id=str(uuid.uuid4()),
        change_id=str(uuid.uuid4()),
        target="web-1",
        status=OutcomeStatus.CHANGED,
        worker="test",
        started_at=now,
        finished_at=now,
    )
    report(app, event, "eu.prod.web-1")
    props = taken(applied, event.outcome_id)
    assert props is not None and props.user_id == own

    # A retry is Celery's own publish (Task.retry -> send_task): the option reaches the wire.
    marker = uuid.uuid4().hex
    app.send_task(
        "provision.converge",
        kwargs={"marker": marker},
        queue=region_queue("eu"),
        exchange=RESULTS_EXCHANGE,
        routing_key="eu.prod.web-1",
        user_id=own,
    )
    props = taken(applied, marker)
    assert props is not None and props.user_id == own


def test_a_retry_names_the_workers_user() -> None:
    """fate.retry hands Celery the user the app's connections speak as."""
    from workers.delivery import fate

    seen: dict[str, Any] = {}
    app = worker_app("amqp://provision-worker-eu:pw@127.0.0.1:5672/v")
    task = SimpleNamespace(
        app=app, request=SimpleNamespace(id="t-1"), retry=lambda **options: seen.update(options)
    )
    fate.retry(task, request_for(), 1.0, 0, None)
    assert seen["user_id"] == "provision-worker-eu"
    assert seen["routing_key"] == "eu.test.t-1"


def test_the_controllers_change_requests_name_the_controller(applied: AccessVhost) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(applied.url("controller")))
    try:
        assert speaks_as(connection) == f"{applied.prefix}-controller"
        publisher = Publisher(connection, controller_key())
        assert publisher.user_id == f"{applied.prefix}-controller"
        request = request_for("uid-1", region="us")  # us: no worker of this module takes it
        publisher.publish(request)
    finally:
        connection.close()
    props = taken(applied, request.change_id, queue=region_queue("us"))
    assert props is not None and props.user_id == f"{applied.prefix}-controller"
    assert json.loads(json.dumps(props.headers))["task"] == "provision.converge"
