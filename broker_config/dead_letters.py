"""The one way a message reaches `provision.dead`, on either plane.

A dead letter is the original body and the original headers plus why, from where and when
(`contracts.dead.dead_letter_headers`). The control plane's pika consumers and the workers'
kombu producers build it here alike (a `Letter`), so `provision dlq` reads one format; each
plane only says how to send it (`Send`): pika here (`pika_send`), kombu in `workers`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from broker_config.connections import speaks_as
from broker_config.topology import DEAD_EXCHANGE
from contracts.dead import dead_letter_headers

log = logging.getLogger("provision.dead")

JSON = "application/json"


@dataclass(frozen=True)
class Letter:
    """One message ready for the broker: where it goes, its body and its properties."""

    exchange: str
    routing_key: str
    body: bytes
    headers: dict[str, Any]
    content_type: str
    correlation_id: str | None


#: Publish one persistent message, confirmed; raise if the broker did not take it.
Send = Callable[[Letter], None]

#: Told the reason of every dead letter this process published (its metrics count them).
_observers: list[Callable[[str], None]] = []


def observe(observer: Callable[[str], None]) -> None:
    """Call `observer(reason)` after each dead letter this process publishes from now on."""
    _observers.append(observer)


def dead_letter(
    send: Send,
    *,
    body: bytes | Any,
    headers: dict[str, Any] | None,
    reason: str,
    source: str,
    exchange: str,
    routing_key: str,
    attempts: int = 1,
    content_type: str | None = None,
    correlation_id: str | None = None,
) -> None:
    """Send `body` to `provision.dead` under its original routing key, with the reason.

    `body` that is not bytes yet (a task's decoded arguments) is sent as compact JSON.
    Does not ack anything: the caller acks the original once this returns.
    """
    log.warning("dead-lettering a message from %s: %s", source, reason[:300])
    raw = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
    send(
        Letter(
            exchange=DEAD_EXCHANGE,
            routing_key=routing_key,
            body=raw,
            headers=dead_letter_headers(
                headers,
                reason=reason,
                source=source,
                exchange=exchange,
                routing_key=routing_key,
                attempts=attempts,
            ),
            content_type=content_type or JSON,
            correlation_id=correlation_id,
        )
    )
    for observer in _observers:
        try:
            observer(reason)
        except Exception:  # counting must never cost a dead letter its ack
            log.exception("a dead-letter observer failed")


def pika_send(connection: Any) -> Send:
    """A `Send` over a pika connection: a confirm channel of its own per message, then closed.

    A channel of its own, because the consumer's channel may be in the middle of a delivery
    and a publish failure there would close it.
    """
    import pika

    def send(letter: Letter) -> None:
        channel = connection.channel()
        try:
            channel.confirm_delivery()
            channel.basic_publish(
                letter.exchange,
                letter.routing_key,
                letter.body,
                pika.BasicProperties(
                    content_type=letter.content_type,
                    correlation_id=letter.correlation_id,
                    delivery_mode=pika.DeliveryMode.Persistent,
                    headers=letter.headers,
                    user_id=speaks_as(connection),
                ),
            )
        finally:
            if channel.is_open:
                channel.close()

    return send


def dead_letter_delivery(
    channel: Any, method: Any, properties: Any, body: bytes, *, reason: str, source: str
) -> None:
    """Dead-letter the pika delivery in hand, as it came (the caller then acks it)."""
    original = properties.headers if isinstance(properties.headers, dict) else None
    dead_letter(
        pika_send(channel.connection),
        body=body,
        headers=original,
        reason=reason,
        source=source,
        exchange=method.exchange,
        routing_key=method.routing_key,
        content_type=properties.content_type,
        correlation_id=properties.correlation_id,
    )
