"""The agent's only line to the control plane: check-in RPC and outcome reports, over pika.

The agent opens one outward AMQP connection and needs no queue of its own: replies come
over RabbitMQ's direct reply-to (`amq.rabbitmq.reply-to`), which must be consumed (no-ack)
before the request is published. Publishes use confirms with `mandatory`, so "nobody
took it" is an error rather than silence. When the bounded check-in queue is full the
broker nacks the publish (`x-overflow: reject-publish`): that means "come back later",
exactly like an explicit retry-after from the desk.

pika connections are not thread-safe: one ControlPlane per thread.
"""

from __future__ import annotations

import contextlib
import random
import time
import uuid
from types import TracebackType
from typing import Any

import pika
import pika.exceptions
from pydantic import ValidationError

from broker_config import CHECKINS_EXCHANGE, RESULTS_EXCHANGE, Endpoints
from broker_config.connections import connect_broker, speaks_as
from broker_config.endpoints import redact
from contracts import OutcomeEvent, ServiceUnreachable, limits
from contracts.checkins import CheckinReply, CheckinRequest, Credentials
from contracts.telemetry import (
    ATTR_CHANGE_ID,
    ATTR_STATUS,
    ATTR_TARGET,
    MESSAGING_ROUTING_KEY,
    sending,
)

#: The pseudo-queue of direct reply-to.
REPLY_TO = "amq.rabbitmq.reply-to"
#: How long one check-in waits for its reply.
REPLY_TIMEOUT_S = 30.0
#: Delay range when the broker refused the publish because the check-in queue is full.
QUEUE_FULL_BACKOFF_S = (1.0, 5.0)

#: What an unusable connection looks like, whenever it shows.
LOST = (
    pika.exceptions.AMQPConnectionError,
    pika.exceptions.AMQPChannelError,
    pika.exceptions.StreamLostError,
    ConnectionError,
    OSError,
)


class ControlPlane:
    """One connection to the control plane: `check_in`, then `report` outcomes."""

    def __init__(self, credentials: Credentials, reply_timeout_s: float = REPLY_TIMEOUT_S):
        self.credentials = credentials
        self.reply_timeout_s = reply_timeout_s
        self._connection: Any = None
        self._channel: Any = None
        self._replies: dict[str, bytes] = {}
        self._awaiting: str | None = None

    def __enter__(self) -> ControlPlane:
        self.open()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def open(self) -> None:
        """Connect and start consuming replies. Raises ServiceUnreachable."""
        self._connection = connect_broker(Endpoints(broker_url=self.credentials.broker_url))
        try:
            self._channel = self._connection.channel()
            self._channel.confirm_delivery()
            self._channel.basic_consume(REPLY_TO, self._on_reply, auto_ack=True)
        except LOST as exc:
            self.close()
            raise self._unreachable(exc) from exc

    def close(self) -> None:
        if self._connection is not None and self._connection.is_open:
            with contextlib.suppress(*LOST):
                self._connection.close()
        self._connection = None

    def check_in(self, request: CheckinRequest) -> CheckinReply:
        """One round trip. A full check-in queue comes back as a retry-after reply.

        Raises:
            ServiceUnreachable: the connection broke, nobody routes check-ins (the
                controller never declared its queue), or no reply came in time.
        """
        correlation_id = uuid.uuid4().hex
        self._awaiting = correlation_id
        self._replies.clear()
        attributes = {MESSAGING_ROUTING_KEY: request.target, ATTR_TARGET: request.target}
        try:
            with sending(CHECKINS_EXCHANGE, correlation_id, **attributes) as headers:
                self._channel.basic_publish(
                    CHECKINS_EXCHANGE,
                    request.target,
                    request.model_dump_json().encode(),
                    pika.BasicProperties(
                        content_type="application/json",
                        reply_to=REPLY_TO,
                        correlation_id=correlation_id,
                        expiration=str(int(self.reply_timeout_s * 1000)),
                        headers=headers,
                        user_id=speaks_as(self._connection),
                    ),
                    mandatory=True,
                )
        except pika.exceptions.NackError:
            return CheckinReply(admitted=False, retry_after_s=random.uniform(*QUEUE_FULL_BACKOFF_S))
        except pika.exceptions.UnroutableError as exc:
            raise self._unreachable(exc, "no check-in queue (is the controller running?)") from exc
        except LOST as exc:
            raise self._unreachable(exc) from exc
        deadline = time.monotonic() + self.reply_timeout_s
        try:
            while correlation_id not in self._replies:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise self._unreachable(None, f"no reply within {self.reply_timeout_s:g}s")
                self._connection.process_data_events(time_limit=min(left, 1.0))
        except LOST as exc:
            raise self._unreachable(exc) from exc
        return self._parse(self._replies.pop(correlation_id))

    def _parse(self, body: bytes) -> CheckinReply:
        """The reply, or ServiceUnreachable naming why it cannot be read (never a crash)."""
        try:
            limits.check_json("check-in reply", body, limits.REPLY_BYTES, "REPLY_BYTES")
            return CheckinReply.model_validate_json(body)
        except (limits.LimitExceeded, ValidationError) as exc:
            raise self._unreachable(None, f"unreadable check-in reply: {exc}"[:500]) from exc

    def pause(self, seconds: float, stopping: Any) -> None:
        """Wait while keeping the connection alive (heartbeats), until `stopping` is set."""
        deadline = time.monotonic() + seconds
        try:
            while not stopping.is_set() and (left := deadline - time.monotonic()) > 0:
                self._connection.sleep(min(left, 1.0))
        except LOST as exc:
            raise self._unreachable(exc) from exc

    def report(self, event: OutcomeEvent, routing_key: str) -> None:
        """Publish one outcome to `provision.results`, confirmed, from a PRODUCER span
        (the aggregator continues its trace). Raises ServiceUnreachable."""
        attributes = {
            MESSAGING_ROUTING_KEY: routing_key,
            ATTR_CHANGE_ID: event.change_id,
            ATTR_TARGET: event.target,
            ATTR_STATUS: event.status.value,
        }
        try:
            with sending(RESULTS_EXCHANGE, event.outcome_id, **attributes) as headers:
                self._channel.basic_publish(
                    RESULTS_EXCHANGE,
                    routing_key,
                    event.model_dump_json().encode(),
                    pika.BasicProperties(
                        content_type="application/json",
                        delivery_mode=2,
                        headers=headers,
                        user_id=speaks_as(self._connection),
                    ),
                    mandatory=True,
                )
        except (pika.exceptions.NackError, pika.exceptions.UnroutableError, *LOST) as exc:
            raise self._unreachable(exc, "outcome not confirmed") from exc

    def _on_reply(self, channel: Any, method: Any, properties: Any, body: bytes) -> None:
        """Keep only the reply awaited now; anything else sent to this channel is dropped."""
        if properties.correlation_id and properties.correlation_id == self._awaiting:
            self._replies[properties.correlation_id] = body

    def _unreachable(self, exc: BaseException | None, reason: str = "") -> ServiceUnreachable:
        detail = reason or (str(exc) or type(exc).__name__ if exc else "lost")
        return ServiceUnreachable("RabbitMQ", redact(self.credentials.broker_url), detail)
