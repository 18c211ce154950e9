"""Connections to RabbitMQ and Redis that fail fast with one clear line naming the URL."""

from __future__ import annotations

from typing import Any

import redis

from broker_config.endpoints import CONNECT_TIMEOUT_S, Endpoints, redact
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


def connect_redis(endpoints: Endpoints) -> redis.Redis:
    """A Redis client that has answered a PING, or ServiceUnreachable within a few seconds."""
    client = redis.Redis.from_url(
        endpoints.redis_url,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_timeout=CONNECT_TIMEOUT_S * 2,
        decode_responses=True,
        health_check_interval=30,
    )
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        raise ServiceUnreachable("Redis", redact(endpoints.redis_url), str(exc)) from exc
    return client
