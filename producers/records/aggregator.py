"""The aggregator: consumes `provision.results` and records each outcome in the ledger.

A message is acked only after the ledger has it, so an outcome survives a crash of the
aggregator or of Redis; recording is idempotent, so the redelivery that follows is harmless.
"""

from __future__ import annotations

import logging
import signal
from typing import Any

import redis
from pydantic import ValidationError

from broker_config import RESULTS_QUEUE, Endpoints, declare
from broker_config.connections import connect_broker, connect_redis
from broker_config.dead_letters import dead_letter_delivery
from contracts import ContractError, OutcomeEvent, limits
from contracts.outcomes import ARRIVING
from contracts.telemetry import ATTR_CHANGE_ID, ATTR_TARGET, setup_tracing, span_from
from producers.messaging.failures import infrastructure
from producers.messaging.serving import serve_until_stopped
from producers.records.compliance import Compliance
from producers.records.ledger import Ledger

log = logging.getLogger("provision.aggregator")

#: Unacked outcomes held at once: enough to keep Redis busy, small enough to redeliver fast.
PREFETCH = 200


class Aggregator:
    """Moves outcome events from RabbitMQ into the ledger until stopped."""

    def __init__(self, endpoints: Endpoints) -> None:
        self.endpoints = endpoints
        self.recorded = 0
        self._stopping = False
        self._channel: Any = None
        self._ledger: Ledger | None = None
        self._connected = False

    def stop(self, *_: object) -> None:
        """Finish the message in hand, then return from `run`."""
        self._stopping = True
        if self._channel is not None and self._channel.is_open:
            self._channel.connection.add_callback_threadsafe(self._channel.stop_consuming)

    def run(self) -> None:
        """Consume until stopped, reconnecting to RabbitMQ and Redis after they restart."""
        serve_until_stopped(
            self._consume,
            name="aggregator",
            connected=lambda: self._connected,
            stopping=lambda: self._stopping,
            log=log,
        )

    def _consume(self) -> None:
        if self._ledger is None:
            self._ledger = Ledger(connect_redis(self.endpoints))
        connection = connect_broker(self.endpoints)
        try:
            declare(connection)
            channel = connection.channel()
            channel.basic_qos(prefetch_count=PREFETCH)
            channel.basic_consume(RESULTS_QUEUE, self._on_message)
            self._channel = channel
            self._connected = True
            log.info("aggregator consuming %s", RESULTS_QUEUE)
            if not self._stopping:
                channel.start_consuming()
        finally:
            self._channel = None
            if connection.is_open:
                connection.close()

    def _on_message(self, channel: Any, method: Any, properties: Any, body: bytes) -> None:
        """Record one outcome; a bad one (or one that fails unexpectedly) is dead-lettered."""
        headers = properties.headers if isinstance(properties.headers, dict) else {}
        try:
            limits.check_json("outcome", body, limits.OUTCOME_BYTES, "OUTCOME_BYTES")
            event = OutcomeEvent.model_validate_json(body, context={ARRIVING: True})
        except limits.LimitExceeded as exc:
            return self._dead_letter(channel, method, properties, body, str(exc))
        except ValidationError as exc:
            reason = f"invalid outcome event: {ContractError.from_validation('outcome', exc)}"
            return self._dead_letter(channel, method, properties, body, reason)
        assert self._ledger is not None
        with span_from(
            headers,
            "provision.record",
            **{ATTR_CHANGE_ID: event.change_id, ATTR_TARGET: event.target},
        ):
            try:
                self._ledger.record(event)
                Compliance(self._ledger.redis).record(event)
            except redis.RedisError:
                channel.basic_nack(method.delivery_tag, requeue=True)
                self._ledger = None
                raise
            except infrastructure():
                raise
            except Exception as exc:
                log.exception("an outcome failed unexpectedly")
                reason = f"unexpected error recording the outcome: {exc!r}"[:500]
                return self._dead_letter(channel, method, properties, body, reason)
        channel.basic_ack(method.delivery_tag)
        self.recorded += 1
        return None

    def _dead_letter(
        self, channel: Any, method: Any, properties: Any, body: bytes, reason: str
    ) -> None:
        dead_letter_delivery(channel, method, properties, body, reason=reason, source=RESULTS_QUEUE)
        channel.basic_ack(method.delivery_tag)


def run_aggregator(endpoints: Endpoints) -> None:
    """`provision aggregator`: run until SIGTERM or SIGINT."""
    setup_tracing("provision-aggregator")
    aggregator = Aggregator(endpoints)
    signal.signal(signal.SIGTERM, aggregator.stop)
    signal.signal(signal.SIGINT, aggregator.stop)
    aggregator.run()
