"""An aggregator in this process, on a vhost and a PostgreSQL database of its own.

Its own, because the session group's aggregator process (tests/pipeline) would compete for
`provision.results`, and because one test here takes the database away from it. The pool
gives up on a connection after 2 s (not 30), so a lost database is noticed quickly.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pika
import psycopg
import pytest
from psycopg_pool import ConnectionPool

from broker_config import DEAD_QUEUE, RESULTS_EXCHANGE, RESULTS_QUEUE, Endpoints, declare
from broker_config.senders import Senders
from contracts import OutcomeEvent, OutcomeStatus
from producers.records.aggregator import Aggregator
from producers.store.database import Database
from tests.databases import drop_database, make_database, with_database
from tests.isolation import Isolated, drop_vhost, make_vhost

#: The tests' publishers are all guest: trusted, as tests/isolation.py sets for processes.
GUEST_TRUSTED = Senders(trusted=frozenset({"guest"}))


@dataclass
class Plane:
    """The broker, the database and a way to take the database away and give it back."""

    endpoints: Endpoints
    db: Database
    name: str
    lost: list[str] = field(default_factory=list)

    def amqp(self) -> Any:
        return pika.BlockingConnection(pika.URLParameters(self.endpoints.broker_url))

    def publish(self, bodies: list[bytes]) -> None:
        """Publish outcome bodies to provision.results, confirmed."""
        connection = self.amqp()
        try:
            declare(connection)
            channel = connection.channel()
            channel.confirm_delivery()
            for body in bodies:
                channel.basic_publish(
                    RESULTS_EXCHANGE,
                    "eu.test.t",
                    body,
                    pika.BasicProperties(
                        content_type="application/json", delivery_mode=2, user_id="guest"
                    ),
                    mandatory=True,
                )
        finally:
            connection.close()

    def ready(self, queue: str = RESULTS_QUEUE) -> int:
        """Messages waiting in `queue` (held unacked by a consumer: not counted)."""
        connection = self.amqp()
        try:
            return int(connection.channel().queue_declare(queue, passive=True).method.message_count)
        finally:
            connection.close()

    def dead_letters(self) -> list[tuple[dict[str, Any], bytes]]:
        """Take every dead letter: (headers, body)."""
        connection = self.amqp()
        try:
            channel = connection.channel()
            taken: list[tuple[dict[str, Any], bytes]] = []
            while True:
                method, props, body = channel.basic_get(DEAD_QUEUE, auto_ack=True)
                if method is None:
                    return taken
                taken.append((props.headers or {}, body))
        finally:
            connection.close()

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with self.db.connection() as conn:
            return conn.execute(sql, params).fetchall()

    def _admin(self, statement: str) -> None:
        admin = with_database(self.db.url, "postgres")
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(statement)

    def take_database_away(self) -> None:
        """New connections refused, open ones ended: to the aggregator, PostgreSQL is gone."""
        self._admin(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false')
        self._admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{self.name}' AND pid <> pg_backend_pid()"
        )

    def give_database_back(self) -> None:
        self._admin(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true')


class _Lost(logging.Handler):
    """Collects the aggregator's "lost a service" warnings."""

    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        if "lost a service" in record.getMessage():
            self.into.append(record.getMessage())


@pytest.fixture(scope="module")
def plane(session_services: Isolated) -> Iterator[Plane]:
    tag = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
    vhost, name = f"provision-test-records-{tag}", f"provisioning_test_records_{tag}"
    broker_url = make_vhost(vhost)
    url = make_database(name)
    pool = ConnectionPool(
        url,
        min_size=1,
        max_size=2,
        kwargs={"connect_timeout": 2, "autocommit": True},  # as the aggregator's own pool
        timeout=2.0,
        check=ConnectionPool.check_connection,
        name="records-tests",
        open=True,
    )
    plane = Plane(Endpoints(broker_url, session_services.redis_url), Database(url, pool), name)
    handler = _Lost(plane.lost)
    logging.getLogger("provision.aggregator").addHandler(handler)
    try:
        yield plane
    finally:
        logging.getLogger("provision.aggregator").removeHandler(handler)
        plane.give_database_back()
        plane.db.close()
        drop_vhost(vhost)
        drop_database(name)


@contextmanager
def running(
    plane: Plane, senders: Senders = GUEST_TRUSTED
) -> Iterator[tuple[Aggregator, list[BaseException]]]:
    """An Aggregator serving in a thread until the block ends; what it raised, if anything.

    Its publishers here are guest, trusted for every target unless `senders` says otherwise.
    """
    aggregator = Aggregator(plane.endpoints, plane.db, senders)
    raised: list[BaseException] = []

    def serve() -> None:
        try:
            aggregator.run()
        except BaseException as exc:  # the test looks at it
            raised.append(exc)

    thread = threading.Thread(target=serve, name="aggregator", daemon=True)
    thread.start()
    try:
        yield aggregator, raised
    finally:
        aggregator.stop()
        thread.join(timeout=60)
        assert not thread.is_alive(), "the aggregator stops when asked"


def outcome(
    target: str | None = None,
    status: OutcomeStatus = OutcomeStatus.CHANGED,
    **fields: Any,
) -> OutcomeEvent:
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "outcome_id": str(uuid.uuid4()),
        "change_id": "agg-change",
        "target": target or f"t-{uuid.uuid4().hex[:8]}",
        "status": status,
        "worker": "eu-w@test",
        "started_at": now,
        "finished_at": now,
        "sequence": 1,
    }
    return OutcomeEvent(**{**values, **fields})


def stored(plane: Plane, events: list[OutcomeEvent]) -> int:
    rows = plane.query(
        "SELECT count(*) FROM outcomes WHERE event_id = ANY(%s)", [e.outcome_id for e in events]
    )
    return int(rows[0][0])
