"""A fresh copy of examples/truth per test, and a system of record of the test's own.

Revisions are append-only (the tables refuse DELETE and TRUNCATE), so a test that needs
revision numbers from 1 gets a freshly migrated PostgreSQL database of its own (about
0.2 s); tests that only add records may use `rolled_back_on(database)`, one transaction
that is rolled back at the end.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from tests.databases import drop_database, make_database
from tests.isolation import ROOT, Isolated

EXAMPLE = ROOT / "examples" / "truth"


class RolledBack:
    """A stand-in for `Database` on one connection: each unit of work is a savepoint of a
    transaction the fixture rolls back, so the test leaves nothing behind."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        with self.conn.transaction():
            yield self.conn


@contextmanager
def rolled_back_on(database: Any) -> Iterator[RolledBack]:
    """One connection of `database` in a transaction that is rolled back at the end."""
    with database.connection() as conn, conn.transaction(force_rollback=True):
        yield RolledBack(conn)


@pytest.fixture
def fresh_url(session_services: Isolated) -> Iterator[str]:
    """A freshly migrated database of this test's own (its URL); dropped afterwards."""
    name = f"provisioning_test_truth_{os.getpid()}_{secrets.token_hex(4)}"
    url = make_database(name)
    yield url
    drop_database(name)


@pytest.fixture
def fresh_db(fresh_url: str) -> Iterator[Any]:
    """A `Database` on `fresh_url`, with room for a few concurrent publishers."""
    from producers.store.database import Database

    db = Database.open(fresh_url, max_size=8, name="tests-truth")
    yield db
    db.close()


@pytest.fixture
def store(fresh_db: Any) -> Any:
    """A RevisionStore on an empty system of record: numbers start at 1."""
    from producers.truth.revisions import RevisionStore

    return RevisionStore(fresh_db)


@pytest.fixture
def truth_dir(tmp_path: Path) -> Path:
    """A writable copy of the example source of truth."""
    return Path(shutil.copytree(EXAMPLE, tmp_path / "truth"))


def edit(path: Path, change: Any) -> None:
    """Load a YAML file, let `change` mutate the data, write it back."""
    data = yaml.safe_load(path.read_text()) or {}
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
