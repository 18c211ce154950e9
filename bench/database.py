"""A PostgreSQL database of the bench's own: created empty, migrated, dropped after.

The bench and the chaos harness record into `provisioning_bench_<name>_<pid>` on the server
PROVISION_DATABASE_URL names (same role and password), never into the user's database
`provisioning`: a benchmark's outcomes must not mix with real ones, and a chaos run must
not restart anything into a user's records. A database left by a killed run is recognised
by its pid and dropped by the next run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psutil
import psycopg

from bench.errors import BenchError
from producers.store.migrate import migrate
from producers.store.url import database_url, redact

log = logging.getLogger("bench")

PREFIX = "provisioning_bench_"
_OURS = re.compile(rf"^{PREFIX}[a-z_]+_(\d+)$")
#: The user's database is never created, migrated nor dropped by the bench.
USERS = "provisioning"


def with_database(url: str, name: str) -> str:
    """`url` naming database `name` instead (same server, role and password)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def name_of(name: str, pid: int | None = None) -> str:
    """The database of benchmark `name` in this run: lower case, digits and `_` only."""
    safe = re.sub(r"[^a-z]+", "_", name.lower()).strip("_") or "run"
    return f"{PREFIX}{safe}_{pid or os.getpid()}"


def admin_url() -> str:
    """The server's `postgres` database as our role (which may create databases)."""
    return with_database(database_url(), "postgres")


def _admin() -> psycopg.Connection:
    url = admin_url()
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise BenchError(
            f"PostgreSQL is not usable at {redact(url)}: {' '.join(str(exc).split())} "
            "(run .ci/services, or set PROVISION_DATABASE_URL)"
        ) from None


def create(name: str) -> str:
    """A fresh database `name` (dropped first if left over), migrated; returns its URL."""
    if name == USERS or not name.startswith(PREFIX):
        raise BenchError(f"refusing to recreate database {name!r}: not one of the bench's")
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = with_database(database_url(), name)
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn)
    return url


def drop(name: str) -> None:
    """Drop a database of the bench's own, whoever is still connected to it."""
    if name == USERS or not name.startswith(PREFIX):
        raise BenchError(f"refusing to drop database {name!r}: not one of the bench's")
    with contextlib.suppress(psycopg.Error, BenchError), _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def remove_stale() -> list[str]:
    """Drop `provisioning_bench_*_<pid>` databases whose run is gone."""
    removed = []
    with contextlib.suppress(psycopg.Error, BenchError), _admin() as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", (PREFIX + "%",)
        )
        for (name,) in rows.fetchall():
            match = _OURS.match(name)
            if match is None or psutil.pid_exists(int(match.group(1))):
                continue
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            removed.append(name)
    return removed


@contextlib.contextmanager
def database(name: str, *, keep: bool = False) -> Iterator[str]:
    """A fresh migrated database `name` for the block (its URL); dropped after unless `keep`."""
    url = create(name)
    try:
        yield url
    finally:
        if keep:
            log.info("kept database %s", name)
        else:
            drop(name)
