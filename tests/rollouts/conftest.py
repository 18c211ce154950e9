"""An isolated pipeline for rollout tests: its own vhost and Redis database, and a
controller the tests may kill and restart."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pika
import pytest
import redis

from broker_config import EVENTS_EXCHANGE
from tests.support import Process, drop_vhost, make_vhost, need, reachable, wait_until

#: A database no other fixture uses, so no other controller ever sees these rollouts.
REDIS_DB = 13


class Fleet:
    """Everything a rollout test needs: env, clients, and a restartable controller."""

    def __init__(self, env: dict[str, str], spawn: Callable[..., Process]) -> None:
        self.env = env
        self.spawn = spawn
        self.redis = redis.Redis.from_url(env["PROVISION_REDIS_URL"], decode_responses=True)
        self.controller: Process | None = None
        self.worker: Process | None = None
        self.aggregator: Process | None = None

    def start_controller(self) -> Process:
        self.controller = self.spawn("controller", ["-m", "producers", "controller"], self.env)
        proc = self.controller
        wait_until(
            lambda: "consuming" in proc.text() or proc.proc.poll() is not None, 30, "the controller"
        )
        assert proc.proc.poll() is None, proc.text()
        return proc

    def amqp(self) -> Any:
        return pika.BlockingConnection(pika.URLParameters(self.env["PROVISION_BROKER_URL"]))

    def emit(self, event: dict[str, Any]) -> None:
        """Publish a change event as a plain pika client would: JSON, nothing of ours."""
        connection = self.amqp()
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(
            EVENTS_EXCHANGE,
            "tests.emitter",
            __import__("json").dumps(event),
            pika.BasicProperties(content_type="application/json", delivery_mode=2),
            mandatory=True,
        )
        connection.close()

    def state(self, change_id: str) -> dict[str, str]:
        return self.redis.hgetall(f"provision:rollout:{change_id}")

    def wait_state(self, change_id: str, states: set[str], timeout_s: float = 60) -> str:
        return wait_until(
            lambda: self.state(change_id).get("state") in states and self.state(change_id)["state"],
            timeout_s,
            f"rollout {change_id} to reach {states}",
        )


@pytest.fixture(scope="package")
def fleet(services: dict[str, str], spawn: Callable[..., Process]) -> Iterator[Fleet]:
    """One fleet for the whole package; its processes stop with it, before its vhost goes."""
    need(reachable(6379), "Redis is not reachable")
    vhost = f"provision-test-rollouts-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    env = {
        "PROVISION_BROKER_URL": make_vhost(vhost),
        "PROVISION_REDIS_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
    }
    redis.Redis.from_url(env["PROVISION_REDIS_URL"]).flushdb()
    fleet = Fleet(env, spawn)
    worker = spawn(
        "worker-eu",
        ["-m", "workers", "worker", "--region", "eu", "--concurrency", "2", "--name", "eu-r@%h"],
        env,
    )
    aggregator = spawn("aggregator", ["-m", "producers", "aggregator"], env)
    wait_until(
        lambda: "ready." in worker.text() or worker.proc.poll() is not None, 60, "the eu worker"
    )
    assert worker.proc.poll() is None, worker.text()
    wait_until(lambda: "consuming" in aggregator.text(), 30, "the aggregator")
    fleet.start_controller()
    fleet.worker, fleet.aggregator = worker, aggregator
    yield fleet
    for process in (worker, aggregator, fleet.controller):
        if process is not None:
            process.stop()
    drop_vhost(vhost)


def targets(
    tmp_path: Path,
    count: int,
    *,
    prefix: str = "t",
    region: str = "eu",
    missing: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    """Local targets with roots under tmp_path; ids in `missing` get no root (they fail)."""
    result = []
    for i in range(count):
        target_id = f"{prefix}{i:02d}"
        root = tmp_path / target_id
        if target_id not in missing:
            root.mkdir(parents=True, exist_ok=True)
        result.append(
            {
                "id": target_id,
                "region": region,
                "environment": "test",
                "labels": {"role": "web"},
                "address": f"local://{root}",
            }
        )
    return result


def event(
    fleet_targets: list[dict[str, Any]],
    *,
    resources: list[dict[str, Any]] | None = None,
    **rollout: Any,
) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "issued_by": "tests",
        "targets": fleet_targets,
        "resources": resources or [{"kind": "file", "path": "/etc/motd", "content": "hi\n"}],
        "rollout": rollout,
    }
