"""Shared fixtures: the one isolation factory (tests/isolation.py) and thin wrappers over its
session group, plus the `slow` marking rule.

Under CI=true a missing service fails the test; elsewhere it skips with the reason.
Tests never touch the default vhost or Redis database 0, so a user's data is left alone.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from producers.processes.supervisor import Child
from tests.isolation import ControllerKeys, Isolated, Isolation, make_controller_keys, operator_key

#: Fixtures that start our processes: a test using one is slow (start-up alone is 5-15 s on
#: a busy 2-core machine), so `pytest -m "not slow"` leaves it out.
PROCESS_FIXTURES = {"pipeline", "fleet", "dl_pipeline", "plane", "demo_env", "tiny_run"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if PROCESS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def witness_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where every `provision converge` of the tests keeps its witnesses (workers.witness):
    the tests' own directory, never the user's ~/.cache. Set before any test runs, so every
    process a test starts inherits it."""
    path = tmp_path_factory.mktemp("witness-cache")
    os.environ["PROVISION_CACHE_DIR"] = str(path)
    return path


@pytest.fixture(scope="session")
def operator(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tests' operator key (0600): registered in every isolation group's database, and
    named by PROVISION_SIGNING_KEY in each group's env, so every event the tests send
    (`provision apply`, the demo, plain pika through `Isolated.emit_event`) is signed."""
    return operator_key(tmp_path_factory.mktemp("operator"))


@pytest.fixture(scope="session")
def controller_keys(tmp_path_factory: pytest.TempPathFactory) -> ControllerKeys:
    """The session's controller key pair: every isolation group's processes get its paths
    (PROVISION_CONTROLLER_KEY, PROVISION_CONTROLLER_PUBLIC_KEY); `controller_keys.key` signs
    what a test publishes itself (`Publisher(connection, controller_keys.key)`)."""
    return make_controller_keys(tmp_path_factory.mktemp("controller-keys"))


@pytest.fixture(scope="session")
def isolation(
    tmp_path_factory: pytest.TempPathFactory, operator: Path, controller_keys: ControllerKeys
) -> Iterator[Isolation]:
    """`isolation("pull")`: that group's vhost, Redis database and supervisor (see REDIS_DBS)."""
    factory = Isolation(tmp_path_factory.mktemp("logs"), operator, controller_keys)
    yield factory
    factory.close()


@pytest.fixture(scope="session")
def allow_tmp(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The `--allow` pattern of the tests' workers: every root beneath pytest's base
    temporary directory, where every test's tmp_path lives, and nothing else."""
    return f"local://{tmp_path_factory.getbasetemp().resolve()}/**"


@pytest.fixture(scope="session")
def session_services(isolation: Isolation) -> Isolated:
    """The session group; in-process clients find it through the environment too."""
    iso = isolation("session")
    os.environ.update(iso.env)
    return iso


@pytest.fixture(scope="session")
def broker_url(session_services: Isolated) -> str:
    return session_services.broker_url


@pytest.fixture(scope="session")
def redis_url(session_services: Isolated) -> str:
    return session_services.redis_url


@pytest.fixture(scope="session")
def services(session_services: Isolated) -> dict[str, str]:
    """Both services, and the environment that points our processes at the test ones."""
    return dict(session_services.env)


@pytest.fixture
def redis_client(session_services: Isolated) -> Any:
    return session_services.redis


@pytest.fixture(scope="session")
def database(session_services: Isolated) -> Any:
    """The session group's system of record: a `producers.store.database.Database`."""
    return session_services.database


@pytest.fixture
def amqp(session_services: Isolated) -> Iterator[Any]:
    """A pika connection to the test vhost."""
    connection = session_services.amqp()
    yield connection
    if connection.is_open:
        connection.close()


@pytest.fixture(scope="session")
def spawn(session_services: Isolated) -> Callable[..., Child]:
    """Start one of our processes on the session group; every one stops at session end."""
    return session_services.spawn
