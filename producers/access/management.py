"""RabbitMQ's management HTTP API (plugin `rabbitmq_management`, port 15672), with the stdlib.

`provision access` and `provision enroll` create users and permissions through it, never by
shelling out to `rabbitmqctl`: the API works from any machine that reaches the broker, and
answers in JSON. Every error names the URL without its password.
"""

from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from broker_config.endpoints import redact
from contracts import ExitCode, ProvisioningError, ServiceUnreachable

#: Where the administrator's credentials come from when `--admin-url` is not given.
ADMIN_URL_ENV = "PROVISION_ADMIN_URL"
DEFAULT_ADMIN_URL = "http://guest:guest@127.0.0.1:15672"
TIMEOUT_S = 10.0


class ManagementError(ProvisioningError):
    """The management API refused a request; the message says which and why."""

    exit_code = ExitCode.FAILED


def admin_url(given: str | None = None) -> str:
    """`--admin-url`, else PROVISION_ADMIN_URL, else guest on the local broker."""
    return given or os.environ.get(ADMIN_URL_ENV) or DEFAULT_ADMIN_URL


def _segment(value: str) -> str:
    return quote(value, safe="")


class Management:
    """A thin client: one method per API call we need."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ManagementError(
                f"admin URL {redact(url)!r}: must be http(s)://USER:PASSWORD@HOST:PORT"
            )
        self.shown = redact(url)
        port = f":{parts.port}" if parts.port else ""
        self.base = f"{parts.scheme}://{parts.hostname}{port}{parts.path.rstrip('/')}"
        user, password = unquote(parts.username or ""), unquote(parts.password or "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self._auth = f"Basic {token}"

    def call(self, method: str, path: str, body: Any = None, *, missing_ok: bool = False) -> Any:
        """One request; the decoded JSON answer (None for none, or a 404 with `missing_ok`)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base}/api/{path}", data=data, method=method)
        request.add_header("Authorization", self._auth)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
                raw = answer.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 404 and missing_ok:
                return None
            raise ManagementError(
                f"RabbitMQ management API at {self.shown}: {method} /api/{path}: "
                f"HTTP {exc.code} {_reason(exc)}"
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise ServiceUnreachable(
                "RabbitMQ management API",
                self.shown,
                f"{reason} (is the rabbitmq_management plugin enabled?)",
            ) from None
        return json.loads(raw) if raw.strip() else None

    def whoami(self) -> dict[str, Any]:
        return dict(self.call("GET", "whoami"))

    def ensure_vhost(self, vhost: str) -> None:
        self.call("PUT", f"vhosts/{_segment(vhost)}", {})

    def user(self, name: str) -> dict[str, Any] | None:
        found = self.call("GET", f"users/{_segment(name)}", missing_ok=True)
        return None if found is None else dict(found)

    def users(self) -> list[dict[str, Any]]:
        return list(self.call("GET", "users"))

    def put_user(self, name: str, password: str, tags: list[str]) -> None:
        body = {"password": password, "tags": ",".join(tags)}
        self.call("PUT", f"users/{_segment(name)}", body)

    def delete_user(self, name: str) -> bool:
        """False when there was no such user."""
        if self.user(name) is None:
            return False
        self.call("DELETE", f"users/{_segment(name)}", missing_ok=True)
        return True

    def set_permissions(self, vhost: str, user: str, configure: str, write: str, read: str) -> None:
        body = {"configure": configure, "write": write, "read": read}
        self.call("PUT", f"permissions/{_segment(vhost)}/{_segment(user)}", body)

    def clear_topic_permissions(self, vhost: str, user: str) -> None:
        path = f"topic-permissions/{_segment(vhost)}/{_segment(user)}"
        self.call("DELETE", path, missing_ok=True)

    def set_topic_permission(
        self, vhost: str, user: str, exchange: str, write: str, read: str
    ) -> None:
        body = {"exchange": exchange, "write": write, "read": read}
        self.call("PUT", f"topic-permissions/{_segment(vhost)}/{_segment(user)}", body)

    def permissions(self, vhost: str) -> list[dict[str, Any]]:
        return list(self.call("GET", f"vhosts/{_segment(vhost)}/permissions"))

    def topic_permissions(self, vhost: str) -> list[dict[str, Any]]:
        return list(self.call("GET", f"vhosts/{_segment(vhost)}/topic-permissions"))

    def exchange(self, vhost: str, name: str) -> dict[str, Any] | None:
        path = f"exchanges/{_segment(vhost)}/{_segment(name)}"
        found = self.call("GET", path, missing_ok=True)
        return None if found is None else dict(found)

    def put_exchange(self, vhost: str, name: str, kind: str) -> None:
        body = {"type": kind, "durable": True, "auto_delete": False, "arguments": {}}
        self.call("PUT", f"exchanges/{_segment(vhost)}/{_segment(name)}", body)

    def delete_exchange(self, vhost: str, name: str) -> None:
        self.call("DELETE", f"exchanges/{_segment(vhost)}/{_segment(name)}", missing_ok=True)

    def put_queue(self, vhost: str, name: str, arguments: dict[str, Any]) -> None:
        body = {"durable": True, "auto_delete": False, "arguments": arguments}
        self.call("PUT", f"queues/{_segment(vhost)}/{_segment(name)}", body)

    def bind(self, vhost: str, exchange: str, queue: str, key: str) -> None:
        path = f"bindings/{_segment(vhost)}/e/{_segment(exchange)}/q/{_segment(queue)}"
        self.call("POST", path, {"routing_key": key, "arguments": {}})

    def close_connections_of(self, user: str) -> int:
        """Close every open connection of `user`; how many there were."""
        closed = 0
        for connection in self.call("GET", "connections") or []:
            if connection.get("user") == user:
                path = f"connections/{_segment(str(connection['name']))}"
                self.call("DELETE", path, missing_ok=True)
                closed += 1
        return closed


def _reason(exc: urllib.error.HTTPError) -> str:
    """RabbitMQ's own reason from the error body, else the HTTP reason phrase."""
    try:
        body = json.loads(exc.read() or b"{}")
    except (ValueError, OSError):
        body = {}
    text = body.get("reason") or body.get("error") or exc.reason
    return str(text)[:300]
