"""Who may touch which Redis keys with which commands: one ACL user per role, as data.

Beside `redis_keys` on purpose: every key pattern here is made from a key template there,
so a new key needs a role here or `tests/broker_config/test_redis_access.py` fails.

What each process runs (found in the code, not guessed):

* `controller`: rollout pacing (`producers/counters/pacing.py`: scripts with TIME,
  ZREMRANGEBYSCORE, ZSCORE, ZCARD, ZADD, GET, SET; ZREM and ZCARD directly), the request
  fence (`counters/sequences.py`: a script with GET and SET), the check-in desk
  (`pull/desk.py`: the pacer on the check-in rate, scripts with ZADD, ZREMRANGEBYRANK, ZREM,
  TIME, ZREMRANGEBYSCORE, ZCARD) and the rollout book (`rollouts/store.py`: ZREM).
* `worker` (one per region, same rights: its keys are per target, not per region):
  the delivery guard (`workers/delivery/guard.py`: SET NX PX for the lock, scripts with
  INCR, EXPIRE, GET, SET, DEL, PEXPIRE). Celery keeps nothing in Redis (no result backend:
  `task_ignore_result`, the broker is RabbitMQ).
* `aggregator`, `operator`, `emitter`, `agent`: no Redis at all, so no Redis user.

Every client needs PING (redis-py's health checks, `connect_redis`) and SELECT (a URL that
names a database other than 0); scripts run through EVALSHA, loaded on a miss with SCRIPT
LOAD (SCRIPT EXISTS in a pipeline). Redis checks every command a script runs, and every
key it touches, against the user's rules: so the commands inside scripts are listed too.

Redis ACLs are per server, not per database: a user's key patterns hold in every database
of the server. Separate deployments on one server need separate key prefixes (or servers),
not separate database numbers.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass

from broker_config import redis_keys

#: Redis's glob characters, escaped in the fixed parts of a pattern.
_GLOB = re.compile(r"([*?\[\]\\])")
_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")


@dataclass(frozen=True)
class RedisRights:
    """One role's Redis ACL: key patterns (read and write) and commands, nothing else."""

    keys: tuple[str, ...]
    commands: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.keys or self.commands)

    def rules(self, password_sha256: str) -> list[str]:
        """`ACL SETUSER` rules: from nothing (`reset`) to exactly these rights, enabled,
        with the password given as its SHA-256 (never in clear on the wire or in a log)."""
        if not re.fullmatch(r"[0-9a-f]{64}", password_sha256):
            raise ValueError("password_sha256 must be 64 lowercase hex digits")
        return [
            "reset",
            "resetchannels",
            "on",
            f"#{password_sha256}",
            *(f"~{pattern}" for pattern in self.keys),
            *(f"+{command}" for command in self.commands),
        ]


def pattern(template: str) -> str:
    """A key template's ACL pattern: each `{placeholder}` becomes `*`, the rest is literal."""
    parts = _PLACEHOLDER.split(template)
    return "*".join(_GLOB.sub(r"\\\1", part) for part in parts)


def templates() -> dict[str, str]:
    """Every key template of `redis_keys`: its constants, and its key functions called with
    `{argument}` placeholders. name -> template."""
    found: dict[str, str] = {}
    for name, value in vars(redis_keys).items():
        if name.isupper() and isinstance(value, str) and value.startswith(redis_keys.PREFIX + ":"):
            found[name] = value
        elif name.endswith("_key") and inspect.isfunction(value):
            function: Callable[..., str] = value
            arguments = inspect.signature(function).parameters
            found[name] = function(*(f"{{{a}}}" for a in arguments))
    return found


#: What every client sends: health checks and a database other than 0.
CONNECTION = ("ping", "select")
#: Scripts: run by SHA, loaded on a miss (redis-py's Script), checked in pipelines.
SCRIPTS = ("evalsha", "script|load", "script|exists")

CONTROLLER = RedisRights(
    keys=(
        pattern(redis_keys.rollout_key("{change_id}", "{part}")),  # in-flight and rate
        pattern(redis_keys.SEQUENCE),
        pattern(redis_keys.CHECKIN_RATE),
        pattern(redis_keys.ADMISSIONS),
        pattern(redis_keys.CHECKINS_WAITING),
    ),
    commands=(
        *CONNECTION,
        *SCRIPTS,
        "time",
        "get",
        "set",
        "zadd",
        "zrem",
        "zcard",
        "zscore",
        "zremrangebyscore",
        "zremrangebyrank",
    ),
)

WORKER = RedisRights(
    keys=(
        pattern(redis_keys.DELIVERIES),
        pattern(redis_keys.DONE),
        pattern(redis_keys.LOCK),
        pattern(redis_keys.FENCE),
    ),
    commands=(*CONNECTION, *SCRIPTS, "get", "set", "del", "incr", "expire", "pexpire"),
)

NOTHING = RedisRights(keys=(), commands=())

#: Role name (broker_config.permissions.ROLES) -> its Redis rights. NOTHING: no Redis user.
REDIS_RIGHTS: dict[str, RedisRights] = {
    "controller": CONTROLLER,
    "aggregator": NOTHING,
    "worker": WORKER,
    "emitter": NOTHING,
    "agent": NOTHING,
    "operator": NOTHING,
}


def redis_rights(role: str) -> RedisRights:
    """The Redis rights of a role (NOTHING for a role without Redis, or an unknown one)."""
    return REDIS_RIGHTS.get(role, NOTHING)
