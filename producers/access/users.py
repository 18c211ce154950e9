"""Apply the role table to a vhost: topology, users, permissions, one credentials file each.

Idempotent: a rerun sets every permission and topic permission to exactly the table's (any
other topic permission of a role user on the vhost is removed) and keeps each user's password
when its credentials file is there (`rotate=True` makes new ones). A credentials file is the
user's broker URL for the vhost, `DIR/<user>.url`, 0600 in a 0700 DIR, written atomically:
`PROVISION_BROKER_URL="$(cat DIR/provision-worker-eu.url)" provision worker --region eu`.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from broker_config.endpoints import with_credentials
from broker_config.permissions import DEFAULT_PREFIX, Role, agent, role_of
from broker_config.topology import DEAD_EXCHANGE, EXCHANGES, FIXED_QUEUES, region_queue_spec
from contracts.private_files import PrivateFileError, read_private, write_private
from contracts.targets import Target
from producers.access.errors import AccessError
from producers.access.management import Management
from producers.access.passwords import kept_or_new

#: The user name prefix of `provision access` and `provision enroll` when not given.
PREFIX_ENV = "PROVISION_ACCESS_PREFIX"


@dataclass(frozen=True)
class Granted:
    """What `apply` did for one role user (never its password)."""

    user: str
    role: str
    password: str  # "created", "kept" or "rotated"
    path: Path
    redis: str | None = None  # the Redis user's password, the same words; None: no user
    database: str | None = None  # the PostgreSQL role's password; None: no login role
    env: Path | None = None  # DIR/<user>.env

    def as_json(self) -> dict[str, str | None]:
        return {
            "user": self.user,
            "role": self.role,
            "password": self.password,
            "file": str(self.path),
            "redis": self.redis,
            "database": self.database,
            "env": None if self.env is None else str(self.env),
        }


def vhost_of(broker_url: str) -> str:
    """The vhost a broker URL names ('/' when it names none)."""
    path = urlsplit(broker_url).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def user_url(broker_url: str, user: str, password: str, vhost: str) -> str:
    """`broker_url` (scheme, host, port, query) as `user` on `vhost`."""
    return with_credentials(broker_url, user, password, "/" + quote(vhost, safe=""))


def credentials_path(directory: Path, user: str) -> Path:
    return directory / f"{user}.url"


def declare_topology(api: Management, vhost: str, regions: Iterable[str]) -> list[str]:
    """The topology of broker_config.topology, through the API (an administrator's act)."""
    api.ensure_vhost(vhost)
    for exchange in EXCHANGES:
        found = api.exchange(vhost, exchange.name)
        if exchange.name == DEAD_EXCHANGE and found and found.get("type") != exchange.type:
            api.delete_exchange(vhost, exchange.name)  # an older fanout provision.dead
        api.put_exchange(vhost, exchange.name, exchange.type)
    queues = [*FIXED_QUEUES, *(region_queue_spec(r) for r in sorted(set(regions)))]
    for queue in queues:
        api.put_queue(vhost, queue.name, dict(queue.arguments))
        for source, key in ((queue.exchange, queue.binding_key), *queue.also):
            api.bind(vhost, source, queue.name, key)
    return [q.name for q in queues]


def grant(api: Management, vhost: str, user: str, role: Role) -> None:
    """Set `user`'s permissions and topic permissions on `vhost` to exactly `role`'s."""
    api.set_permissions(vhost, user, *role.permission)
    api.clear_topic_permissions(vhost, user)
    for exchange, topic in sorted(role.topics.items()):
        api.set_topic_permission(vhost, user, exchange, topic.write, topic.read)


def ensure_user(
    api: Management,
    role: Role,
    vhost: str,
    broker_url: str,
    out: Path,
    *,
    prefix: str = DEFAULT_PREFIX,
    rotate: bool = False,
) -> Granted:
    """One role user with its rights and its credentials file; the password kept if known."""
    user = role.user(prefix)
    path = credentials_path(out, user)
    stored = stored_url(path) if path.exists() and not rotate else None
    password, what = kept_or_new(stored, lambda: api.user(user) is not None)
    api.put_user(user, password, [role.tag])
    grant(api, vhost, user, role)
    if what != "kept":
        write_private(path, user_url(broker_url, user, password, vhost) + "\n")
    return Granted(user, role.name, what, path)


#: The largest credentials file read back (one URL).
STORED_BYTES = 64 * 1024


def stored_url(path: Path) -> str:
    """The URL a credentials file `<user>.url` keeps: read once, bounded, never waited on
    (a FIFO). The one reader of those files, for `ensure_user` and `role_environment`.

    Raises AccessError naming the file and why, never its content."""
    try:
        return read_private(path, STORED_BYTES, private=False).decode("utf-8").strip()
    except PrivateFileError as exc:
        raise AccessError(f"{path}: cannot be read as a URL ({exc.reason})") from None
    except UnicodeDecodeError:
        raise AccessError(f"{path}: cannot be read as a URL (not UTF-8 text)") from None


def apply(
    api: Management,
    roles: list[Role],
    vhost: str,
    broker_url: str,
    out: Path,
    *,
    regions: Iterable[str] = (),
    prefix: str = DEFAULT_PREFIX,
    rotate: bool = False,
) -> list[Granted]:
    """The topology, then every role user; see the module docstring."""
    declare_topology(api, vhost, regions)
    return [
        ensure_user(api, role, vhost, broker_url, out, prefix=prefix, rotate=rotate)
        for role in roles
    ]


def show(api: Management, vhost: str, prefix: str = DEFAULT_PREFIX) -> list[dict[str, Any]]:
    """Every user with rights on `vhost`, as RabbitMQ reports them: role, tags, permissions."""
    tags = {u["name"]: _tags(u.get("tags")) for u in api.users()}
    topics: dict[str, list[dict[str, str]]] = {}
    for t in api.topic_permissions(vhost):
        topics.setdefault(str(t["user"]), []).append(
            {"exchange": t["exchange"], "write": t["write"], "read": t["read"]}
        )
    rows: list[dict[str, Any]] = []
    for p in sorted(api.permissions(vhost), key=lambda p: str(p["user"])):
        user = str(p["user"])
        rows.append(
            {
                "user": user,
                "role": role_of(user, tags.get(user, []), prefix) or "-",
                "tags": tags.get(user, []),
                "permissions": {k: p[k] for k in ("configure", "write", "read")},
                "topic_permissions": sorted(topics.get(user, []), key=_exchange),
            }
        )
    return rows


def _exchange(entry: dict[str, str]) -> str:
    return entry["exchange"]


def _tags(value: Any) -> list[str]:
    """Tags as a list: RabbitMQ 3.10 answers a comma-separated string, later ones a list."""
    if isinstance(value, str):
        return [t for t in value.split(",") if t]
    return [str(t) for t in value or []]


def agent_url(api: Management, target: Target, broker_url: str, prefix: str) -> str:
    """Create (or re-key) `target`'s agent user with exactly the agent role; its broker URL.

    A new password each time, as enrolling again rotates the token: old credentials stop.
    """
    role = agent(target.id, target.region, target.environment)
    user, password, vhost = role.user(prefix), secrets.token_urlsafe(24), vhost_of(broker_url)
    api.put_user(user, password, [role.tag])
    grant(api, vhost, user, role)
    api.close_connections_of(user)
    return user_url(broker_url, user, password, vhost)


def access_prefix() -> str:
    """The user name prefix: PROVISION_ACCESS_PREFIX, else `provision`."""
    return os.environ.get(PREFIX_ENV) or DEFAULT_PREFIX
