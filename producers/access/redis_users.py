"""Redis ACL users per process role, with exactly `broker_config.redis_access`'s rights.

Applied with an administrator's Redis URL (`--redis-url`, else PROVISION_REDIS_URL; by
default the server's `default` user, which this never changes). `ACL SETUSER` starts each
user from `reset`, so a rerun sets exactly the table's rules, and sends the password as its
SHA-256 only. ACL users are per server, not per database (see redis_access).
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlsplit

import redis

from broker_config.endpoints import CONNECT_TIMEOUT_S, redact, scrub, with_credentials
from broker_config.redis_access import RedisRights
from contracts import ServiceUnreachable
from producers.access.errors import AccessError

#: Redis's own user, left as it is: a deployment turns it off itself (README).
DEFAULT_USER = "default"


def admin_client(url: str) -> redis.Redis:
    """A client on the admin URL that has answered, or ServiceUnreachable naming it."""
    try:
        client = redis.Redis.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            socket_timeout=CONNECT_TIMEOUT_S * 2,
        )
        client.ping()
    except (redis.RedisError, OSError, ValueError) as exc:
        raise ServiceUnreachable("Redis", redact(url), scrub(str(exc), url)) from None
    return client


def user_url(admin_url: str, user: str, password: str) -> str:
    """`admin_url` (scheme, host, port, database, query) as `user` with `password`."""
    parts = urlsplit(admin_url)
    if parts.scheme not in ("redis", "rediss"):
        raise AccessError("the Redis URL must be redis[s]://[USER:PASSWORD@]HOST:PORT/DB")
    return with_credentials(admin_url, user, password, parts.path or "/0")


def exists(client: redis.Redis, user: str) -> bool:
    return bool(client.execute_command("ACL", "GETUSER", user))


def ensure_user(client: redis.Redis, user: str, rights: RedisRights, password: str) -> None:
    """Create or reset `user` to exactly `rights`, enabled, with `password`."""
    if user == DEFAULT_USER:
        raise AccessError("refusing to change Redis's default user")
    digest = hashlib.sha256(password.encode()).hexdigest()
    try:
        client.execute_command("ACL", "SETUSER", user, *rights.rules(digest))
    except redis.ResponseError as exc:
        raise AccessError(f"Redis refused ACL SETUSER {user}: {exc}") from None


def delete_user(client: redis.Redis, user: str) -> str | None:
    """Delete `user` (its connections close with it); why not, else None (deleted)."""
    if user == DEFAULT_USER:
        return "refusing to delete Redis's default user"
    if str(client.execute_command("ACL", "WHOAMI")) == user:
        return "refusing to delete the administrator in use"
    if not int(client.execute_command("ACL", "DELUSER", user)):
        return "no such user"
    return None


def show(client: redis.Redis, prefix: str) -> list[dict[str, Any]]:
    """The users named `<prefix>-...`, as `ACL GETUSER` reports them (never their password
    hashes): flags, key patterns, commands."""
    found = []
    for user in sorted(str(u) for u in client.execute_command("ACL", "USERS")):
        if not user.startswith(f"{prefix}-"):
            continue
        raw = client.execute_command("ACL", "GETUSER", user) or []
        info = _pairs(raw)
        found.append(
            {
                "user": user,
                "flags": [str(f) for f in info.get("flags", [])],
                "keys": str(info.get("keys", "")),
                "channels": str(info.get("channels", "")),
                "commands": str(info.get("commands", "")),
            }
        )
    return found


def _pairs(raw: Any) -> dict[str, Any]:
    """ACL GETUSER's flat [name, value, ...] answer (RESP2) or its map (RESP3) as a dict."""
    if isinstance(raw, dict):
        return {str(k): v for k, v in raw.items()}
    items = list(raw)
    return {str(items[i]): items[i + 1] for i in range(0, len(items) - 1, 2)}
