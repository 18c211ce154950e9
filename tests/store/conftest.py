"""Fixtures for the system of record: a PostgreSQL database of the tests' own per run.

The database `provisioning_test_<pid>_<random>` is created on the server that
PROVISION_DATABASE_URL (or the default) names, with the same role, and dropped at the end:
the tests never touch the user's database. Under CI=true a missing PostgreSQL fails.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from producers.store.migrate import migrate
from producers.store.url import database_url, redact
from tests.isolation import need


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


@pytest.fixture(scope="session")
def pg_server() -> str:
    """An admin URL on the server (database `postgres`), proven to work."""
    url = _with_database(database_url(), "postgres")
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            row = conn.execute("SELECT rolcreatedb FROM pg_roles WHERE rolname = current_user")
            may_create = bool((row.fetchone() or [False])[0])
    except psycopg.Error as exc:
        need(False, f"PostgreSQL is not usable at {redact(url)}: {exc}")
    need(may_create, "the PostgreSQL role may not create databases (run .ci/services)")
    return url


@pytest.fixture(scope="session")
def make_database(pg_server: str) -> Iterator[Callable[[], str]]:
    """Creates empty databases of the tests' own; every one is dropped at session end."""
    made: list[str] = []

    def make() -> str:
        name = f"provisioning_test_{os.getpid()}_{secrets.token_hex(4)}"
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return _with_database(pg_server, name)

    yield make
    with psycopg.connect(pg_server, autocommit=True) as conn:
        for name in made:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def store_url(make_database: Callable[[], str]) -> str:
    """One migrated database for the repository tests of this run."""
    url = make_database()
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn)
    return url


@pytest.fixture
def db(store_url: str) -> Iterator[psycopg.Connection]:
    """A connection whose every write is rolled back at the end of the test.

    The repositories' own transactions become savepoints inside the outer one.
    """
    with (
        psycopg.connect(store_url) as conn,
        conn.transaction(force_rollback=True),
    ):
        yield conn
