"""Connections to the system of record: one pool per process, one error for every failure.

Every failure to reach PostgreSQL becomes DatabaseUnreachable with the URL's password
hidden, so no traceback, log line or one-line error ever shows it. The pool checks a
connection before lending it, so a PostgreSQL restart costs one reconnect, not a crash.
"""

from __future__ import annotations

import select
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from producers.store.errors import DatabaseUnreachable
from producers.store.url import database_url, redact, scrub

#: Seconds to wait for one connection before calling the database unreachable.
CONNECT_TIMEOUT_S = 10


def _reason(exc: BaseException, url: str) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return scrub(text, url)


@contextmanager
def connect(url: str | None = None, *, autocommit: bool = False) -> Iterator[psycopg.Connection]:
    """One connection for a short command (`provision db migrate`), closed at the end.

    Without autocommit, leaving the block commits, and an exception rolls back.
    """
    url = database_url(url)
    try:
        connection = psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S, autocommit=autocommit)
    except (psycopg.Error, ValueError) as exc:
        raise DatabaseUnreachable(redact(url), _reason(exc, url)) from None
    with connection:
        yield connection


def alive(conn: psycopg.Connection) -> None:
    """The pool's check of a connection it lends: raises when the server has dropped it.

    Without a round trip. A pooled connection is idle, and an idle connection receives
    nothing unless its server is ending it: a terminated backend sends its FATAL error and
    closes, a restarting server closes. So anything to read, or a hang-up, means drop it
    (psycopg_pool then lends another). psycopg_pool's own check sends a query instead: one
    round trip per unit of work, which was a third of the controller's busy time in a
    rollout. A silently dead peer is caught by neither check; its first query fails with
    DatabaseUnreachable, and the services reconnect.
    """
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("the connection is closed")
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN | select.POLLPRI)
    if poller.poll(0):
        conn.close()  # so the pool drops it: a connection still open would be lent again
        raise psycopg.OperationalError("the server ended this connection")


def open_pool(
    url: str | None = None,
    *,
    min_size: int = 1,
    max_size: int = 4,
    name: str = "provision",
    autocommit: bool = False,
) -> ConnectionPool:
    """A pool for a long-running process, open and proven to reach the database.

    Raises DatabaseUnreachable with the driver's reason when even one connection fails.
    """
    url = database_url(url)
    with connect(url):  # the reason a pool's timeout would not give
        pass
    kwargs: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT_S, "autocommit": autocommit}
    pool = ConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        kwargs=kwargs,
        open=False,
        name=name,
        timeout=CONNECT_TIMEOUT_S * 3,
        check=alive,
    )
    try:
        pool.open(wait=True, timeout=CONNECT_TIMEOUT_S * 3)
    except (PoolTimeout, psycopg.Error) as exc:
        pool.close()
        raise DatabaseUnreachable(redact(url), _reason(exc, url)) from None
    return pool
