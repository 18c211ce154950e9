"""Where RabbitMQ and Redis are, from the environment, with safe defaults for one machine."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from contracts import ExitCode, ProvisioningError
from contracts.private_files import PrivateFileError, read_private

#: Environment variables every process reads. Public: deployments set them.
BROKER_URL_ENV = "PROVISION_BROKER_URL"
#: A file holding the broker URL (one line), for deployments that hand out credentials as
#: files (compose.yaml: each service reads its role's file from the `access` volume).
BROKER_URL_FILE_ENV = "PROVISION_BROKER_URL_FILE"
REDIS_URL_ENV = "PROVISION_REDIS_URL"
#: The PostgreSQL URL of the control plane (producers.store.url reads it; named here so
#: broker_config.env_file can allow it in a role's environment file).
DATABASE_URL_ENV = "PROVISION_DATABASE_URL"

DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
#: The user of a broker URL that names none: what pika and kombu log in as.
DEFAULT_BROKER_USER = "guest"

#: How long a process waits for a service before it says it is unreachable.
CONNECT_TIMEOUT_S = 3.0


#: `scheme://user:password@` and `password=...` (a query parameter or a key=value DSN).
_USERINFO = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:@/?#]*):(?P<pw>[^/?#]*)@")
_PARAM = re.compile(r"(?P<key>\bpassword\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|[^&\s]*)", re.I)


def redact(url: str) -> str:
    """The URL with every password replaced by `***`, fit for any message or log: AMQP,
    Redis (`redis://user:pw@`, `redis://:pw@`) and PostgreSQL URLs alike.

    Works on the text alone, so even a malformed URL (a bad port) is redacted.
    """
    url = _USERINFO.sub(lambda m: f"{m.group('head')}:***@", url, count=1)
    return _PARAM.sub(lambda m: f"{m.group('key')}***", url)


def _passwords(url: str) -> set[str]:
    found = set()
    match = _USERINFO.match(url)
    if match and match.group("pw"):
        found.add(match.group("pw"))
    for param in _PARAM.finditer(url):
        found.add(param.group("pw").strip("'"))
    found |= {unquote(p) for p in found}
    return {p for p in found if p}


def scrub(text: str, url: str) -> str:
    """`text` (e.g. a driver's error message) with the URL's passwords taken out.

    Drivers may quote a fragment of a bad URL, so each password is hidden wherever it
    appears, as written in the URL and decoded.
    """
    text = text.replace(url, redact(url))
    for password in sorted(_passwords(url), key=len, reverse=True):
        text = text.replace(password, "***")
    return text


class BrokerUrlFileError(ProvisioningError):
    """PROVISION_BROKER_URL_FILE names a file that cannot give a broker URL."""

    exit_code = ExitCode.INPUT


def with_credentials(url: str, user: str, password: str, path: str) -> str:
    """`url`'s scheme, host, port and query, as `user` with `password`, on `path`: the URL a
    role's process connects with, made from an administrator's (AMQP, Redis or PostgreSQL)."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, path, parts.query, ""))


def password_of(url: str | None) -> str:
    """The password a URL carries ('' for none, or for no URL)."""
    if not url:
        return ""
    try:
        return unquote(urlsplit(url).password or "")
    except ValueError:
        return ""


def broker_user(url: str) -> str:
    """The user a broker URL logs in as: its user name, decoded; `guest` when it names none."""
    name = urlsplit(url).username
    return unquote(name) if name else DEFAULT_BROKER_USER


#: The largest PROVISION_BROKER_URL_FILE read (a URL and a newline fit many times over).
URL_FILE_BYTES = 64 * 1024


def broker_url_from_env() -> str:
    """PROVISION_BROKER_URL, else the first line of the file PROVISION_BROKER_URL_FILE names,
    else the local default. Both set is a mistake worth one clear line."""
    given, path = os.environ.get(BROKER_URL_ENV), os.environ.get(BROKER_URL_FILE_ENV)
    if given and path:
        raise BrokerUrlFileError(f"set {BROKER_URL_ENV} or {BROKER_URL_FILE_ENV}, not both")
    if not path:
        return given or DEFAULT_BROKER_URL
    try:  # a secret mounted by Docker is often 0444: only regular and bounded, not private
        raw = read_private(path, URL_FILE_BYTES, private=False)
        url = raw.decode("utf-8").split("\n", 1)[0][:4096].strip()
    except PrivateFileError as exc:
        unread = exc.problem in ("open", "read")
        reason = f"cannot read it ({exc.detail})" if unread else exc.reason
        raise BrokerUrlFileError(f"{BROKER_URL_FILE_ENV}={path}: {reason}") from None
    except UnicodeError:
        raise BrokerUrlFileError(f"{BROKER_URL_FILE_ENV}={path}: not UTF-8 text") from None
    if not url.startswith(("amqp://", "amqps://")):
        raise BrokerUrlFileError(
            f"{BROKER_URL_FILE_ENV}={path}: its first line is not an amqp:// or amqps:// URL"
        )
    return url


@dataclass(frozen=True, repr=False)
class Endpoints:
    """The broker and Redis URLs one process uses."""

    broker_url: str = DEFAULT_BROKER_URL
    redis_url: str = DEFAULT_REDIS_URL

    def __repr__(self) -> str:
        """Redacted: an Endpoints in a log line or a traceback shows no password."""
        broker, store = redact(self.broker_url), redact(self.redis_url)
        return f"Endpoints(broker_url={broker!r}, redis_url={store!r})"

    @classmethod
    def from_env(cls) -> Endpoints:
        """Read `PROVISION_BROKER_URL` (or `PROVISION_BROKER_URL_FILE`) and
        `PROVISION_REDIS_URL`, else the local defaults."""
        return cls(
            broker_url=broker_url_from_env(),
            redis_url=os.environ.get(REDIS_URL_ENV, DEFAULT_REDIS_URL),
        )

    @property
    def broker_user(self) -> str:
        """The RabbitMQ user this process speaks as (`broker_user` of the broker URL)."""
        return broker_user(self.broker_url)

    def celery_broker_ssl(self) -> dict[str, Any] | None:
        """Celery's `broker_use_ssl` for an `amqps://` URL, None for `amqp://`.

        Bare `amqps://` makes py-amqp check the certificate chain but not the host name;
        this asks for both (kombu fills `server_hostname` in from the URL), against the
        system's CAs or `SSL_CERT_FILE`, as pika and redis-py do.
        """
        if urlsplit(self.broker_url).scheme != "amqps":
            return None
        import ssl  # here, not at the top: `provision converge` never needs TLS

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
