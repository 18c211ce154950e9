"""Long-running consumers of the control plane survive RabbitMQ, Redis and PostgreSQL restarts.

The aggregator and the controller both serve in a loop: connect, consume until a service
goes away, wait (with a growing delay), connect again. Only the first connection fails
the process, so a misconfigured URL is one clear error, not a silent retry loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pika.exceptions
import psycopg
import redis

from contracts import ServiceUnreachable

#: What a lost broker or Redis looks like to a consumer; anything else is a bug to raise.
LOST = (
    pika.exceptions.AMQPConnectionError,
    pika.exceptions.ChannelClosed,
    pika.exceptions.StreamLostError,
    redis.RedisError,
    psycopg.OperationalError,
    ServiceUnreachable,  # DatabaseUnreachable among them
)


def serve_until_stopped(
    serve: Callable[[], None],
    *,
    name: str,
    connected: Callable[[], bool],
    stopping: Callable[[], bool],
    log: logging.Logger,
) -> None:
    """Call `serve` until `stopping()`; after a lost service, reconnect with backoff.

    Raises the error instead when `serve` never connected (`connected()` is false).
    """
    delay = 0.5
    while not stopping():
        try:
            serve()
            delay = 0.5
        except LOST as exc:
            if not connected() or stopping():
                raise
            log.warning("%s lost a service (%s); reconnecting in %.1fs", name, exc, delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


class Reconnecting:
    """The flags `serve_until_stopped` reads, for a consumer that serves until stopped.

    `_connected` is set by the consumer once it reached its services; `stop` (a signal
    handler) sets `_stopping`, and the consumer returns after the message in hand.
    """

    _stopping = False
    _connected = False

    def stop(self, *_: object) -> None:
        self._stopping = True

    def serve(self, serve: Callable[[], None], *, name: str, log: logging.Logger) -> None:
        """`serve_until_stopped` on this consumer's flags."""
        serve_until_stopped(
            serve,
            name=name,
            connected=lambda: self._connected,
            stopping=lambda: self._stopping,
            log=log,
        )
