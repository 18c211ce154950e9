"""The processes run as their roles: a worker started with only the eu worker's rights takes
a change request that only the controller's user could publish, and reports its outcome."""

from __future__ import annotations

import json
from pathlib import Path

import pika
import pytest

from broker_config import RESULTS_QUEUE, region_queue
from producers.messaging.publisher import Publisher
from producers.processes.commands import worker_argv
from tests.isolation import controller_key, request_for, wait_until
from tests.producers.access.conftest import AccessVhost


@pytest.mark.slow
def test_a_worker_as_its_role_converges_a_request_published_as_the_controller(
    applied: AccessVhost, tmp_path: Path, allow_tmp: str
) -> None:
    iso = applied.iso
    as_worker = {"PROVISION_BROKER_URL": applied.url("worker", "eu")}
    iso.spawn("worker-eu", worker_argv("eu", allow=allow_tmp, concurrency=1), as_worker)
    iso.wait_consuming(region_queue("eu"))
    request = request_for("role-1", region="eu", address=f"local://{tmp_path}")
    controller = pika.BlockingConnection(pika.URLParameters(applied.url("controller")))
    try:
        Publisher(controller, controller_key()).publish(request)
    finally:
        controller.close()

    def outcome() -> dict | None:
        connection = iso.amqp()
        try:
            channel = connection.channel()
            while True:
                method, props, body = channel.basic_get(RESULTS_QUEUE, auto_ack=True)
                if method is None:
                    return None
                event = json.loads(body)
                if event.get("change_id") == request.change_id:
                    return dict(event, routing_key=method.routing_key, user_id=props.user_id)
        finally:
            connection.close()

    event = wait_until(outcome, 60, "the eu worker's outcome")
    assert event["status"] in ("changed", "converged"), event
    assert event["routing_key"] == "eu.test.role-1"
    assert event["user_id"] == f"{applied.prefix}-worker-eu"  # checked by RabbitMQ, then by us
