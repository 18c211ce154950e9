"""Where RabbitMQ and Redis are, from the environment, with safe defaults for one machine."""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

#: Environment variables every process reads. Public: deployments set them.
BROKER_URL_ENV = "PROVISION_BROKER_URL"
REDIS_URL_ENV = "PROVISION_REDIS_URL"

DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

#: How long a process waits for a service before it says it is unreachable.
CONNECT_TIMEOUT_S = 3.0


def redact(url: str) -> str:
    """The URL with its password replaced, fit for an error message or a log."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True)
class Endpoints:
    """The broker and Redis URLs one process uses."""

    broker_url: str = DEFAULT_BROKER_URL
    redis_url: str = DEFAULT_REDIS_URL

    @classmethod
    def from_env(cls) -> Endpoints:
        """Read `PROVISION_BROKER_URL` and `PROVISION_REDIS_URL`, else the local defaults."""
        return cls(
            broker_url=os.environ.get(BROKER_URL_ENV, DEFAULT_BROKER_URL),
            redis_url=os.environ.get(REDIS_URL_ENV, DEFAULT_REDIS_URL),
        )

    def celery_broker_ssl(self) -> dict[str, Any] | None:
        """Celery's `broker_use_ssl` for an `amqps://` URL, None for `amqp://`.

        Bare `amqps://` makes py-amqp check the certificate chain but not the host name;
        this asks for both (kombu fills `server_hostname` in from the URL), against the
        system's CAs or `SSL_CERT_FILE`, as pika and redis-py do.
        """
        if urlsplit(self.broker_url).scheme != "amqps":
            return None
        return {"cert_reqs": ssl.CERT_REQUIRED, "server_hostname": None}

    def pika_parameters(self, heartbeat_s: int = 30) -> object:
        """pika connection parameters that fail fast instead of hanging on a dead broker.

        `amqps://` gives TLS with the default context (certificate and host name checked);
        `?ssl_options={...}` in the URL (pika's syntax) names a CA file or a client cert.
        """
        import pika

        params = pika.URLParameters(self.broker_url)
        params.socket_timeout = CONNECT_TIMEOUT_S
        params.stack_timeout = CONNECT_TIMEOUT_S * 2
        params.blocked_connection_timeout = 30
        params.connection_attempts = 1
        params.heartbeat = heartbeat_s
        return params
