"""Fixtures for the system of record: a PostgreSQL database of the tests' own per run.

The database `provisioning_test_<pid>_<random>` is created on the server that
PROVISION_DATABASE_URL (or the default) names, with the same role, and dropped at the end:
the tests never touch the user's database. Under CI=true a missing PostgreSQL fails.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator

import psycopg
import pytest

from producers.store.migrate import migrate
from tests import databases


@pytest.fixture(scope="session")
def make_database() -> Iterator[Callable[[], str]]:
    """Creates empty databases of the tests' own; every one is dropped at session end."""
    made: list[str] = []

    def make() -> str:
        name = f"provisioning_test_{os.getpid()}_{secrets.token_hex(4)}"
        made.append(name)
        return databases.make_database(name, migrated=False)

    yield make
    for name in made:
        databases.drop_database(name)


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
