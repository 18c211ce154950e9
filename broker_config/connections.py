"""Connections to RabbitMQ and Redis that fail fast with one clear line naming the URL.

TLS is chosen by the URL: `amqps://` (pika and Celery; port 5671 by default) and
`rediss://` (redis-py's SSLConnection) verify the server's certificate and host name
against the system's CAs, or the file `SSL_CERT_FILE` names; the README lists the options.
"""

from __future__ import annotations

from typing import Any

import redis

from broker_config.endpoints import CONNECT_TIMEOUT_S, Endpoints, redact, scrub
from contracts import ServiceUnreachable


def connect_broker(endpoints: Endpoints, heartbeat_s: int = 30) -> Any:
    """A pika BlockingConnection, or ServiceUnreachable within a few seconds."""
    import pika
    import pika.exceptions

    try:
        return pika.BlockingConnection(endpoints.pika_parameters(heartbeat_s=heartbeat_s))
    except pika.exceptions.ProbableAuthenticationError as exc:
        raise ServiceUnreachable(
            "RabbitMQ", redact(endpoints.broker_url), "authentication refused"
        ) from exc
    except pika.exceptions.ProbableAccessDeniedError as exc:
        raise ServiceUnreachable(
            "RabbitMQ", redact(endpoints.broker_url), "access to the vhost refused"
        ) from exc
    except (pika.exceptions.AMQPError, OSError) as exc:
        reason = str(exc) or type(exc).__name__
        raise ServiceUnreachable("RabbitMQ", redact(endpoints.broker_url), reason) from exc


def redis_client(endpoints: Endpoints) -> redis.Redis:
    """A Redis client for the URL, not yet connected (`rediss://` makes it a TLS client).

    A URL redis-py cannot read is ServiceUnreachable naming it redacted, with the parser's
    reason scrubbed of the password (a parser may quote a piece of it)."""
    url = endpoints.redis_url
    try:
        return redis.Redis.from_url(
            url,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            socket_timeout=CONNECT_TIMEOUT_S * 2,
            decode_responses=True,
            health_check_interval=30,
        )
    except ValueError as exc:
        raise ServiceUnreachable("Redis", redact(url), scrub(str(exc), url)) from None


def connect_redis(endpoints: Endpoints) -> redis.Redis:
    """A Redis client that has answered a PING, or ServiceUnreachable within a few seconds."""
    client = redis_client(endpoints)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        reason = scrub(str(exc), endpoints.redis_url)
        raise ServiceUnreachable("Redis", redact(endpoints.redis_url), reason) from None
    return client
