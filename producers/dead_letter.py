"""Dead-lettering from the control plane's pika consumers: one road for every refusal.

The controller (events, check-ins) and the aggregator (outcomes) send a message they will
not process to `provision.dead`, with the reason, where it came from and its original
headers, and only then ack it; so nothing is lost and nothing is retried for ever.
"""

from __future__ import annotations

import logging
from typing import Any

import pika
import pika.exceptions

from broker_config import DEAD_EXCHANGE
from contracts.dead import dead_letter_headers

log = logging.getLogger("provision.dead")

#: Errors of the broker or of Redis: the process reconnects and the message comes back.
#: Anything else raised for one message is that message's fault, and it is dead-lettered.
INFRASTRUCTURE: tuple[type[BaseException], ...] = (pika.exceptions.AMQPError, ConnectionError)


def infrastructure() -> tuple[type[BaseException], ...]:
    """INFRASTRUCTURE plus Redis's errors (imported here, not in every importer)."""
    import redis

    return (*INFRASTRUCTURE, redis.RedisError)


def dead_letter(
    channel: Any,
    method: Any,
    properties: Any,
    body: bytes,
    *,
    reason: str,
    source: str,
) -> None:
    """Publish `body` to `provision.dead` with `reason`, confirmed, on a channel of its own.

    Does not ack: the caller acks the original once this returns.
    """
    log.warning("dead-lettering a message from %s: %s", source, reason[:300])
    original = properties.headers if isinstance(properties.headers, dict) else None
    headers = dead_letter_headers(
        original,
        reason=reason,
        source=source,
        exchange=method.exchange,
        routing_key=method.routing_key,
    )
    dead = channel.connection.channel()
    try:
        dead.confirm_delivery()
        dead.basic_publish(
            DEAD_EXCHANGE,
            method.routing_key,
            body,
            pika.BasicProperties(
                content_type=properties.content_type or "application/json",
                correlation_id=properties.correlation_id,
                delivery_mode=pika.DeliveryMode.Persistent,
                headers=headers,
            ),
        )
    finally:
        if dead.is_open:
            dead.close()
