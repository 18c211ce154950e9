"""Delivery-guarantee fixtures: a vhost and a Redis database of their own, a worker of
region `dl` and the aggregator as processes, and helpers to publish and to look.

Own vhost and database, so killing workers or flushing Redis here disturbs no other test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pika
import pytest
import redis

from broker_config import declare
from contracts import ChangeRequest, DesiredState, Target
from producers.messaging.publisher import Publisher
from producers.records.ledger import Ledger
from tests.support import Process, drop_vhost, make_vhost, need, reachable, wait_until

VHOST = f"provision-delivery-{os.getpid()}"
REDIS_DB = 14
REGION = "dl"


@pytest.fixture(scope="session")
def delivery_env() -> Iterator[dict[str, str]]:
    """The environment that points our processes at this package's vhost and database."""
    need(reachable(6379), "Redis is not reachable on 127.0.0.1:6379")
    url = make_vhost(VHOST)
    redis_url = f"redis://127.0.0.1:6379/{REDIS_DB}"
    redis.Redis.from_url(redis_url).flushdb()
    yield {
        "PROVISION_BROKER_URL": url,
        "PROVISION_REDIS_URL": redis_url,
        "PROVISION_RETRY_BASE_S": "0.2",
    }
    drop_vhost(VHOST)


@pytest.fixture
def rdb(delivery_env: dict[str, str]) -> Any:
    return redis.Redis.from_url(delivery_env["PROVISION_REDIS_URL"], decode_responses=True)


@pytest.fixture
def conn(delivery_env: dict[str, str]) -> Iterator[Any]:
    connection = pika.BlockingConnection(pika.URLParameters(delivery_env["PROVISION_BROKER_URL"]))
    declare(connection, [REGION])
    yield connection
    if connection.is_open:
        connection.close()


@pytest.fixture(scope="session")
def dl_pipeline(delivery_env: dict[str, str], spawn: Callable[..., Process]) -> dict[str, Process]:
    """One worker of region `dl` (prefork, 2 children) and the aggregator."""
    worker = spawn(
        "dl-worker",
        ["-m", "workers", "worker", "--region", REGION, "-c", "2", "--name", "dl-w@%h"],
        delivery_env,
    )
    aggregator = spawn("dl-aggregator", ["-m", "producers", "aggregator"], delivery_env)
    wait_until(lambda: "ready." in worker.text() or worker.proc.poll(), 60, "the dl worker")
    assert worker.proc.poll() is None, worker.text()
    wait_until(
        lambda: "consuming" in aggregator.text() or aggregator.proc.poll(), 30, "the aggregator"
    )
    assert aggregator.proc.poll() is None, aggregator.text()
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
    return Publisher(conn).publish(change)


def outcome_of(rdb: Any, change: ChangeRequest, timeout_s: float = 60) -> Any:
    """Wait for the ledger's outcome of the change's one target."""
    ledger = Ledger(rdb)

    def seen() -> Any:
        try:
            return ledger.status(change.change_id).outcomes.get(change.target.id)
        except Exception:
            return None

    return wait_until(seen, timeout_s, f"the outcome of {change.change_id}")
