"""Shared fixtures: the real RabbitMQ and Redis, on a vhost and a database of the tests' own.

Under CI=true a missing service fails the test; elsewhere it skips with the reason.
Tests never touch the default vhost or Redis database 0, so a user's data is left alone.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support import REDIS_DB, VHOST, Process, drop_vhost, make_vhost, need, reachable


@pytest.fixture(scope="session")
def broker_url() -> Iterator[str]:
    url = make_vhost(VHOST)
    os.environ["PROVISION_BROKER_URL"] = url
    yield url
    drop_vhost(VHOST)


@pytest.fixture(scope="session")
def redis_url() -> str:
    need(reachable(6379), "Redis is not reachable on 127.0.0.1:6379")
    url = f"redis://127.0.0.1:6379/{REDIS_DB}"
    import redis

    redis.Redis.from_url(url).flushdb()
    os.environ["PROVISION_REDIS_URL"] = url
    return url


@pytest.fixture(scope="session")
def services(broker_url: str, redis_url: str) -> dict[str, str]:
    """Both services, and the environment that points our processes at the test ones."""
    return {"PROVISION_BROKER_URL": broker_url, "PROVISION_REDIS_URL": redis_url}


@pytest.fixture
def redis_client(redis_url: str) -> Any:
    import redis

    return redis.Redis.from_url(redis_url, decode_responses=True)


@pytest.fixture
def amqp(broker_url: str) -> Iterator[Any]:
    """A pika connection to the test vhost."""
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    yield connection
    if connection.is_open:
        connection.close()


@pytest.fixture(scope="session")
def spawn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Process]]:
    """Start our processes (workers, aggregator); every one is stopped at session end."""
    started: list[Process] = []
    logs = tmp_path_factory.mktemp("logs")

    def start(name: str, argv: list[str], env: dict[str, str] | None = None) -> Process:
        process = Process(argv, env or {}, logs / f"{name}-{len(started)}.log")
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
