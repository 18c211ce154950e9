"""The controller's check-in consumer, whose replies go out on a connection of their own.

An agent chooses its `reply_to`. The desk answers only direct reply-to names, but
RabbitMQ 3.10 closes the whole connection (541 INTERNAL_ERROR) when a reply is published
to a forged `amq.rabbitmq.reply-to.<garbage>` name. On the controller's own connection
that would drop every consumer and, before the ack, redeliver the same check-in for
ever; here it costs one reply and a reconnect of this connection alone.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import pika
import pika.exceptions
from opentelemetry.trace import get_current_span

from broker_config import CHECKINS_QUEUE, Endpoints
from broker_config.connections import connect_broker, speaks_as
from broker_config.dead_letters import dead_letter_delivery
from contracts.checkins import CheckinReply
from contracts.telemetry import (
    ATTR_CHANGE_ID,
    ATTR_STATUS,
    ATTR_TARGET,
    MESSAGING_OPERATION,
    link_to,
    messaging,
    span_from,
)
from producers.messaging.failures import infrastructure
from producers.pull.desk import REFUSED, CheckinDesk, Malformed, is_direct_reply_to
from producers.store import trail

log = logging.getLogger("provision.replies")

#: Rollout trace contexts remembered at once (check-ins link to them).
TRACES_KEPT = 512


class Replies:
    """Answers check-ins through the desk; replies on a lazily (re)opened connection."""

    def __init__(self, endpoints: Endpoints, desk: CheckinDesk) -> None:
        self.endpoints = endpoints
        self.desk = desk
        self._connection: Any = None
        self._channel: Any = None
        self._traces: dict[str, dict[str, str]] = {}

    def on_checkin(self, channel: Any, method: Any, properties: Any, body: bytes) -> None:
        """Answer one pull agent on its own reply channel (direct reply-to).

        Acked first: a check-in is a question, and the agent asks again if the answer
        is lost, whereas a check-in redelivered after a crash it caused would loop.
        A malformed one is refused, recorded for operators and dead-lettered.
        """
        channel.basic_ack(method.delivery_tag)
        attributes = messaging(
            CHECKINS_QUEUE,
            str(properties.correlation_id or "")[:100] or None,
            **{MESSAGING_OPERATION: "process"},
        )
        with span_from(properties.headers, f"process {CHECKINS_QUEUE}", attributes=attributes):
            self._answer(channel, method, properties, body)

    def _answer(self, channel: Any, method: Any, properties: Any, body: bytes) -> None:
        span = get_current_span()
        try:
            request = self.desk.read(body, properties.reply_to)
        except Malformed as exc:
            self.desk.refuse(exc.target, exc.reason, result="refused_malformed")
            dead_letter_delivery(
                channel, method, properties, body, reason=exc.reason, source=CHECKINS_QUEUE
            )
            if is_direct_reply_to(properties.reply_to):
                self._reply(properties, CheckinReply(admitted=False, refused=REFUSED))
            return
        try:
            reply = self.desk.answer_request(request)
        except infrastructure():
            raise
        except Exception as exc:
            log.exception("check-in failed unexpectedly")
            reply = self.desk.refuse(request.target, f"unexpected error: {exc!r}"[:500])
        span.set_attribute(ATTR_TARGET, request.target)
        span.set_attribute(ATTR_STATUS, "admitted" if reply.admitted else "refused")
        if reply.change_id:
            # The check-in is a trace of its own, linked to the rollout of its revision.
            span.set_attribute(ATTR_CHANGE_ID, reply.change_id)
            for link in link_to(self._rollout_trace(reply.change_id)):
                span.add_link(link.context)
        if not self._reply(properties, reply):
            reason = f"reply_to {properties.reply_to[:100]!r} is not a live direct reply-to name"
            self.desk.refuse(request.target, reason, result="undeliverable")
            dead_letter_delivery(
                channel, method, properties, body, reason=reason, source=CHECKINS_QUEUE
            )

    def _rollout_trace(self, change_id: str) -> dict[str, str]:
        """The rollout's kept trace context (it never changes: remembered, a few hundred)."""
        kept = self._traces.get(change_id)
        if kept is None:
            with self.desk.db.connection() as conn:
                kept = trail.rollout_trace(conn, change_id)
            if len(self._traces) >= TRACES_KEPT:
                self._traces.clear()
            self._traces[change_id] = kept
        return kept

    def _reply(self, properties: Any, reply: CheckinReply) -> bool:
        """Send the reply; False when the broker would not take it (a forged name)."""
        body = reply.model_dump_json(exclude_none=True).encode()
        return self.send(properties.reply_to, properties.correlation_id, body)

    def pump(self) -> None:
        """Keep the reply connection's heartbeats going between replies."""
        if self._connection is None:
            return
        try:
            self._connection.process_data_events(time_limit=0)
        except (pika.exceptions.AMQPError, ConnectionError, OSError):
            self.close()

    def send(self, reply_to: str, correlation_id: str | None, body: bytes) -> bool:
        """Publish one reply, confirmed; False if the broker broke the connection over it.

        Confirmed, so a forged name's broken connection shows on its own publish and never
        swallows the next agent's reply; a reply that finds an old connection dead is
        tried once more on a fresh one.
        """
        for _ in range(2):
            fresh = self._channel is None or not self._channel.is_open
            try:
                if fresh:
                    self.close()
                    self._connection = connect_broker(self.endpoints)
                    self._channel = self._connection.channel()
                    self._channel.confirm_delivery()
                properties = pika.BasicProperties(
                    content_type="application/json",
                    correlation_id=correlation_id,
                    user_id=speaks_as(self._connection),
                )
                self._channel.basic_publish("", reply_to, body, properties)
                return True
            except (pika.exceptions.AMQPError, ConnectionError, OSError) as exc:
                log.warning("reply to %r not sent: %r", reply_to[:100], exc)
                self.close()
                if fresh:
                    return False
        return False

    def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            with contextlib.suppress(pika.exceptions.AMQPError, ConnectionError, OSError):
                connection.close()
