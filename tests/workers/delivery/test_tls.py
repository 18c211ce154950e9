"""A worker given an `amqps://` URL talks TLS and checks the broker's host name too (bare
`amqps://` in Celery checks only the chain). Configuration only: no TLS server here."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import pytest

from workers.delivery.app import app, configure


@pytest.fixture
def restored() -> Iterator[None]:
    """configure() sets the one app's broker; put it back for the other tests."""
    names = ("broker_url", "broker_use_ssl", "task_queues", "task_default_queue")
    before = {name: app.conf[name] for name in names}
    yield
    app.conf.update(before)


@pytest.mark.usefixtures("restored")
def test_an_amqps_broker_url_makes_celery_verify_certificate_and_host_name() -> None:
    configure("eu", broker_url="amqps://worker-eu:pw@rabbit.example/%2F")

    connection = app.connection_for_write()
    try:
        assert type(connection.transport).__name__ == "SSLTransport"
        assert connection.ssl == {"cert_reqs": ssl.CERT_REQUIRED, "server_hostname": None}
        assert connection.transport.default_ssl_port == 5671 and connection.port is None
        info = connection.transport.default_connection_params
        assert info["port"] == 5671
    finally:
        connection.release()


@pytest.mark.usefixtures("restored")
def test_an_amqp_broker_url_stays_plain() -> None:
    configure("eu", broker_url="amqp://guest:guest@127.0.0.1:5672/%2F")
    connection = app.connection_for_write()
    try:
        assert not connection.ssl and type(connection.transport).__name__ == "Transport"
    finally:
        connection.release()
