"""Delivery-guarantee fixtures: a vhost and a Redis database of their own, a worker of
region `dl` and the aggregator as processes, and helpers to publish and to look.

Own vhost and database, so killing workers or flushing Redis here disturbs no other test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from broker_config import RESULTS_QUEUE, declare, region_queue
from contracts import ChangeRequest, DesiredState, Target
from producers.messaging.publisher import Publisher
from producers.processes.commands import aggregator_argv, worker_argv
from producers.processes.supervisor import Child
from producers.records.ledger import Ledger
from tests.isolation import Isolated, Isolation, controller_key, wait_until

REGION = "dl"


@pytest.fixture(scope="session")
def delivery(isolation: Isolation) -> Isolated:
    """This package's group: its own vhost and database, retries quick."""
    return isolation("delivery", PROVISION_RETRY_BASE_S="0.2")


@pytest.fixture
def rdb(delivery: Isolated) -> Any:
    return delivery.redis


@pytest.fixture
def ledger(delivery: Isolated) -> Ledger:
    """The ledger the group's aggregator writes, in the group's PostgreSQL database."""
    return Ledger(delivery.database)


@pytest.fixture
def conn(delivery: Isolated) -> Iterator[Any]:
    connection = delivery.amqp()
    declare(connection, [REGION])
    yield connection
    if connection.is_open:
        connection.close()


@pytest.fixture(scope="session")
def dl_pipeline(delivery: Isolated, allow_tmp: str) -> dict[str, Child]:
    """One worker of region `dl` (prefork, 2 children), allowed the tests' roots only,
    and the aggregator."""
    worker = delivery.spawn("dl-worker", worker_argv(REGION, allow=allow_tmp, name="dl-w@%h"))
    aggregator = delivery.spawn("dl-aggregator", aggregator_argv())
    delivery.wait_consuming(region_queue(REGION), RESULTS_QUEUE)
    return {"worker": worker, "aggregator": aggregator}


def make_target(tmp_path: Path, name: str | None = None) -> Target:
    """A local target of region `dl` with a fresh root under tmp_path."""
    target_id = name or f"t-{uuid.uuid4().hex[:8]}"
    root = tmp_path / target_id
    root.mkdir(parents=True, exist_ok=True)
    return Target(id=target_id, region=REGION, environment="test", address=f"local://{root}")


def request(
    target: Target,
    resources: list[dict[str, Any]],
    *,
    change_id: str | None = None,
    sequence: int | None = None,
    checks: list[dict[str, Any]] | None = None,
    ttl_s: float = 300,
) -> ChangeRequest:
    now = datetime.now(UTC)
    return ChangeRequest(
        change_id=change_id or str(uuid.uuid4()),
        target=target,
        desired=DesiredState.model_validate({"resources": resources, "checks": checks or []}),
        issued_by="tests",
        issued_at=now,
        expires_at=now + timedelta(seconds=ttl_s),
        sequence=sequence,
    )


def append_effect(line: str, *, creates: str | None = None) -> dict[str, Any]:
    """A command resource that appends `line` to /effects.log: every run is one effect.

    Unguarded unless `creates` is given, so only the guard around the engine call keeps a
    second run of the same request from adding a second line.
    """
    script = f"printf '%s\\n' '{line}' >> effects.log"
    if creates:
        script += f" && : > {creates.lstrip('/')}"
    spec: dict[str, Any] = {"kind": "command", "argv": [script], "shell": True, "name": line}
    if creates:
        spec["creates"] = creates
    return spec


def effects(target: Target) -> list[str]:
    log = Path(target.address.removeprefix("local://")) / "effects.log"
    return log.read_text().splitlines() if log.exists() else []


def publish(conn: Any, change: ChangeRequest) -> str:
    return Publisher(conn, controller_key()).publish(change)


def outcome_of(ledger: Ledger, change: ChangeRequest, timeout_s: float = 60) -> Any:
    """Wait for the ledger's outcome of the change's one target."""

    def seen() -> Any:
        try:
            return ledger.status(change.change_id).outcomes.get(change.target.id)
        except Exception:
            return None

    return wait_until(seen, timeout_s, f"the outcome of {change.change_id}")
