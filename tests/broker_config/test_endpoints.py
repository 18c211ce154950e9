"""One redaction for every URL of ours (AMQP, Redis, PostgreSQL): no password in a message,
a log line or a repr, however the URL is spelled or broken."""

from __future__ import annotations

import pytest

from broker_config.connections import connect_redis, redis_client
from broker_config.endpoints import Endpoints, redact, scrub
from contracts import ServiceUnreachable
from tests.services import need, reachable


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("amqp://u:s3cret@h:5672/%2F", "amqp://u:***@h:5672/%2F"),
        ("redis://provision-worker-eu:s3cret@h/5", "redis://provision-worker-eu:***@h/5"),
        ("rediss://:s3cret@h/0", "rediss://:***@h/0"),
        ("redis://h/0?password=s3cret&db=1", "redis://h/0?password=***&db=1"),
        ("redis://u:s3cret@h:badport/0", "redis://u:***@h:badport/0"),
        ("postgresql://u:s3cret@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("redis://h:6380/0", "redis://h:6380/0"),
    ],
)
def test_redact_hides_the_password_of_every_store(url: str, shown: str) -> None:
    assert redact(url) == shown and "s3cret" not in redact(url)


def test_an_endpoints_repr_shows_no_password() -> None:
    endpoints = Endpoints("amqp://u:s3cret@h/%2F", "redis://u:t0ps3cret@h/0")
    assert "s3cret" not in repr(endpoints) and "***" in repr(endpoints)
    assert scrub("auth t0ps3cret failed", endpoints.redis_url) == "auth *** failed"


def test_a_redis_url_that_cannot_be_read_is_named_without_its_password() -> None:
    with pytest.raises(ServiceUnreachable) as refused:
        redis_client(Endpoints(redis_url="redis://u:s3cret@h:badport/0"))
    assert "s3cret" not in str(refused.value) and "redis://u:***@h:badport/0" in str(refused.value)


def test_a_refused_redis_password_is_reported_without_it() -> None:
    need(reachable(6379), "Redis is not reachable on 127.0.0.1:6379")
    url = "redis://nobody-w14:s3cret-pass@127.0.0.1:6379"
    with pytest.raises(ServiceUnreachable) as refused:
        connect_redis(Endpoints(redis_url=url))
    assert "s3cret-pass" not in str(refused.value)
    assert "redis://nobody-w14:***@127.0.0.1:6379" in str(refused.value)


def test_a_broker_that_never_answers_the_handshake_is_unreachable_not_a_crash() -> None:
    """A swamped broker accepts the TCP connection but not the handshake in time: pika then
    raises its connector's stack timeout, which is not an AMQPError; every process must
    see ServiceUnreachable (an agent then converges offline) instead of a traceback."""
    import socket
    import time

    from broker_config.connections import connect_broker
    from broker_config.endpoints import CONNECT_TIMEOUT_S, Endpoints
    from contracts import ServiceUnreachable

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # accepts, never answers
        port = silent.getsockname()[1]
        began = time.monotonic()
        with pytest.raises(ServiceUnreachable, match="RabbitMQ") as caught:
            connect_broker(Endpoints(broker_url=f"amqp://u:s3cret@127.0.0.1:{port}/%2F"))
        assert time.monotonic() - began < CONNECT_TIMEOUT_S * 2 + 5
    assert "s3cret" not in str(caught.value)
