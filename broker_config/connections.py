"""Connections to RabbitMQ and Redis that fail fast with one clear line naming the URL.

TLS is chosen by the URL: `amqps://` (pika and Celery; port 5671 by default) and
`rediss://` (redis-py's SSLConnection) verify the server's certificate and host name
against the system's CAs, or the file `SSL_CERT_FILE` names; the README lists the options.
"""

from __future__ import annotations

from typing import Any

import redis

from broker_config.endpoints import CONNECT_TIMEOUT_S, Endpoints, broker_user, redact, scrub
from contracts import ServiceUnreachable


def connect_broker(endpoints: Endpoints, heartbeat_s: int = 30) -> Any:
    """A pika BlockingConnection, or ServiceUnreachable within a few seconds."""
    import pika
    import pika.exceptions
    from pika.adapters.utils.connection_workflow import AMQPConnectorException

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
    except (pika.exceptions.AMQPError, AMQPConnectorException, OSError) as exc:
        # AMQPConnectorException is not an AMQPError: a handshake that outlasts the stack
        # timeout (a broker swamped by connections) raises it, and must not crash the caller.
        reason = scrub(str(exc) or type(exc).__name__, endpoints.broker_url)
        raise ServiceUnreachable("RabbitMQ", redact(endpoints.broker_url), reason) from exc


def speaks_as(connection: Any) -> str | None:
    """The RabbitMQ user a connection (or a channel of it) logged in as: the one name every
    publish puts in the AMQP `user_id` property, which RabbitMQ checks against it.

    pika: the user of the credentials it connected with (from the broker URL; `guest` when
    the URL names none). kombu (Celery): its `userid`, else the broker URL's. None when the
    connection has no user name (EXTERNAL, certificate, authentication): its messages go
    without `user_id`, and a consumer that checks senders refuses their outcomes.
    """
    import pika.adapters.blocking_connection as blocking

    if isinstance(connection, blocking.BlockingChannel):
        connection = connection.connection
    if isinstance(connection, blocking.BlockingConnection):
        credentials = getattr(connection._impl.params, "credentials", None)
        name = getattr(credentials, "username", None)
        return str(name) if name else None
    userid = getattr(connection, "userid", None)  # a kombu Connection
    if userid:
        return str(userid)
    as_uri = getattr(connection, "as_uri", None)
    if callable(as_uri):
        return broker_user(str(as_uri(include_password=False)))
    return None


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
