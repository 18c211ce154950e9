"""The system of record as one long-running process holds it: a checked pool.

`Database.open` proves the schema is the one this code needs (else one line saying what
to run) and opens a pool. `connection()` lends a connection for one unit of work: leaving
the block commits, an exception rolls back. A lost server (a restart, a closed socket)
becomes DatabaseUnreachable, which the services treat like a lost broker: reconnect and
take the message again, so nothing is acked that was not committed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from producers.store.errors import DatabaseUnreachable
from producers.store.migrate import require_schema
from producers.store.pool import open_pool
from producers.store.url import database_url, redact, scrub


class Database:
    """A pool on the system of record; open it once per process and share it."""

    def __init__(self, url: str, pool: ConnectionPool) -> None:
        self.url = url
        self.pool = pool

    @classmethod
    def open(
        cls,
        url: str | None = None,
        *,
        max_size: int = 4,
        name: str = "provision",
        autocommit: bool = False,
    ) -> Database:
        """Check the schema version, then open the pool. Raises SchemaMismatch or
        DatabaseUnreachable with a message fit for one line.

        `autocommit`: each statement commits by itself, and a unit of several writes opens
        `conn.transaction()`; for a process whose writes are single statements, this saves
        the BEGIN and COMMIT round trips of every unit of work (the aggregator)."""
        url = database_url(url)
        require_schema(url)
        pool = open_pool(url, min_size=1, max_size=max_size, name=name, autocommit=autocommit)
        return cls(url, pool)

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """One connection for one unit of work, committed at the end of the block."""
        try:
            with self.pool.connection() as conn:
                yield conn
        except (psycopg.OperationalError, PoolTimeout) as exc:
            reason = scrub(" ".join(str(exc).split()) or type(exc).__name__, self.url)
            raise DatabaseUnreachable(redact(self.url), reason) from None

    def close(self) -> None:
        self.pool.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
