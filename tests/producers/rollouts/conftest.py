"""An isolated pipeline for rollout tests: its own vhost, Redis database and PostgreSQL
database, and a controller the tests may kill and restart.

The plane reads rollouts where they are kept, in the group's PostgreSQL database (through
a `RolloutBook`), never from Redis, which may be emptied under it.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from broker_config import (
    CHANGES_EXCHANGE,
    CHECKINS_QUEUE,
    EVENTS_QUEUE,
    RESULTS_QUEUE,
    ROLLOUTS_QUEUE,
    region_queue,
)
from producers.processes.commands import aggregator_argv, controller_argv, worker_argv
from producers.processes.supervisor import Child
from producers.rollouts.store import RolloutBook
from producers.store import outcomes as stored_outcomes
from tests.isolation import Isolated, Isolation, wait_until

CONTROLLER_QUEUES = (EVENTS_QUEUE, ROLLOUTS_QUEUE, CHECKINS_QUEUE)


class RolloutPlane:
    """Everything a rollout test needs: env, clients, and a restartable controller."""

    def __init__(self, iso: Isolated) -> None:
        self.iso = iso
        self.env = iso.env
        self.redis = iso.redis
        self.book = RolloutBook(iso.database, iso.redis)
        self.controller: Child | None = None
        self.worker: Child | None = None
        self.aggregator: Child | None = None

    def start_controller(self) -> Child:
        """Start (or restart: the name is reused) the controller; return it once it consumes."""
        self.controller = self.iso.spawn("controller", controller_argv())
        self.iso.wait_consuming(*CONTROLLER_QUEUES)
        return self.controller

    def amqp(self) -> Any:
        return self.iso.amqp()

    def emit(self, event: dict[str, Any]) -> None:
        """Publish a change event as a plain pika client would: JSON, signed with the
        operator's key (`issued_at` added when missing)."""
        self.iso.emit_event(event, "tests.emitter")

    def state(self, rollout_id: str) -> dict[str, str]:
        """The rollout's head (`state`, `reason`, `wave`, `created_at`...); {} if unknown."""
        return self.book.meta(rollout_id)

    def published(self, rollout_id: str) -> int:
        """How many targets the controller has published requests for."""
        return self.book.published_count(rollout_id)

    def outcomes(self, change_id: str) -> dict[str, dict[str, Any]]:
        """Each target's current outcome as the aggregator stored it, as JSON."""
        with self.iso.database.connection() as conn:
            found = stored_outcomes.latest_in_change(conn, change_id)
        return {target: s.event.model_dump(mode="json") for target, s in found.items()}

    def wait_published(self, rollout_id: str, count: int, timeout_s: float = 60) -> int:
        return wait_until(
            lambda: self.published(rollout_id) >= count and self.published(rollout_id),
            timeout_s,
            f"{count} targets of {rollout_id} published",
        )

    def wait_state(self, rollout_id: str, states: set[str], timeout_s: float = 60) -> str:
        return wait_until(
            lambda: (
                self.state(rollout_id).get("state") in states and self.state(rollout_id)["state"]
            ),
            timeout_s,
            f"rollout {rollout_id} to reach {states}",
        )


@pytest.fixture(scope="package")
def fleet(isolation: Isolation, allow_tmp: str) -> Iterator[RolloutPlane]:
    """One rollout plane for the whole package; its processes stop with it."""
    iso = isolation("rollouts", fresh=True)
    plane = RolloutPlane(iso)
    plane.worker = iso.spawn("worker-eu", worker_argv("eu", allow=allow_tmp, name="eu-r@%h"))
    plane.aggregator = iso.spawn("aggregator", aggregator_argv())
    iso.wait_consuming(region_queue("eu"), RESULTS_QUEUE)
    plane.start_controller()
    yield plane
    iso.supervisor.stop()


@contextlib.contextmanager
def published_requests(fleet: RolloutPlane) -> Iterator[list[dict[str, Any]]]:
    """Every eu change request published while the block runs, in order (the list is filled
    when the block ends): a queue of the test's own gets a copy of each."""
    connection = fleet.amqp()
    channel = connection.channel()
    name = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(name, CHANGES_EXCHANGE, routing_key="eu.#")
    requests: list[dict[str, Any]] = []
    try:
        yield requests
        while True:
            method, _, raw = channel.basic_get(name, auto_ack=True)
            if method is None:
                break
            requests.append(json.loads(raw)[1]["request"])
    finally:
        connection.close()


@contextlib.contextmanager
def copies(fleet: RolloutPlane) -> Iterator[Counter[str]]:
    """Counts, per target, the eu change requests published while the block runs (and
    until the counts are read after it)."""
    seen: Counter[str] = Counter()
    with published_requests(fleet) as requests:
        yield seen
    seen.update(request["target"]["id"] for request in requests)


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
