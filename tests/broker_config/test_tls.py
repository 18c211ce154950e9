"""TLS is chosen by the URL: `amqps://` gives pika an SSL context that checks the broker's
certificate and host name, `rediss://` gives redis-py its SSL connection class. There is no
TLS server here, so the configuration is tested, not a handshake."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pika
import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from broker_config import Endpoints
from broker_config.connections import redis_client


def test_an_amqps_url_gives_pika_parameters_with_a_verifying_ssl_context() -> None:
    params = Endpoints(broker_url="amqps://agent:pw@rabbit.example/%2F").pika_parameters()

    assert isinstance(params, pika.URLParameters)
    assert params.ssl_options is not None and params.port == 5671
    context = params.ssl_options.context
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert (params.host, params.credentials.username) == ("rabbit.example", "agent")


def test_pikas_own_ssl_options_in_the_url_name_a_private_ca(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_bytes(self_signed("Provision Test CA"))
    options = {"ca_certs": str(ca), "server_hostname": "rabbit.internal"}
    url = f"amqps://agent:pw@10.0.0.5:5676/%2F?ssl_options={quote(repr(options))}"

    params = Endpoints(broker_url=url).pika_parameters()

    assert params.port == 5676 and params.ssl_options is not None
    assert params.ssl_options.server_hostname == "rabbit.internal"
    context = params.ssl_options.context
    assert context.verify_mode == ssl.CERT_REQUIRED
    subjects = [dict(item[0] for item in c["subject"]) for c in context.get_ca_certs()]
    assert subjects == [{"commonName": "Provision Test CA"}], "only the named CA is trusted"


def self_signed(name: str) -> bytes:
    """A CA certificate (PEM) to name in a URL; no server ever presents it here."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def test_an_amqp_url_stays_plain() -> None:
    params = Endpoints(broker_url="amqp://guest:guest@127.0.0.1:5672/%2F").pika_parameters()
    assert params.ssl_options is None and params.port == 5672
    assert Endpoints(broker_url="amqp://h/").celery_broker_ssl() is None


def test_celery_checks_the_certificate_and_the_host_name_for_amqps() -> None:
    tls = Endpoints(broker_url="amqps://worker:pw@rabbit.example/%2F").celery_broker_ssl()
    assert tls == {"cert_reqs": ssl.CERT_REQUIRED, "server_hostname": None}


def test_a_rediss_url_makes_an_ssl_redis_client_that_verifies_the_server() -> None:
    url = "rediss://worker:pw@redis.example:6380/3?ssl_ca_certs=/etc/provision/ca.pem"
    client = redis_client(Endpoints(redis_url=url))

    pool = client.connection_pool
    assert pool.connection_class is redis.SSLConnection
    kwargs = pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("redis.example", 6380, 3)
    assert (kwargs["username"], kwargs["ssl_ca_certs"]) == ("worker", "/etc/provision/ca.pem")
    connection = pool.make_connection()
    assert connection.cert_reqs == ssl.CERT_REQUIRED and connection.check_hostname


def test_a_redis_url_stays_plain() -> None:
    client = redis_client(Endpoints(redis_url="redis://redis.example"))
    assert client.connection_pool.connection_class is redis.Connection
