"""Test isolation: the one table of Redis databases and vhosts (PostgreSQL databases come from
`tests.databases`), the one factory that hands them out, bounded waits, and our child processes
(through the one supervisor).

Under CI=true a missing service fails the test; elsewhere it skips with the reason.
Tests never touch the default vhost or Redis database 0, so a user's data is left alone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from producers.processes.supervisor import Child, Supervisor, wait_consuming
from tests.databases import database_name_of, drop_database, make_database
from tests.services import need, reachable

ROOT = Path(__file__).resolve().parent.parent

#: Group -> its Redis database. The only place a test's database number is written. 0 is the
#: user's and never touched; the bench owns 11 and 13 (BENCH_DBS).
REDIS_DBS: dict[str, int] = {
    "session": 15,  # pipeline, cli, truth, records, table tests
    "delivery": 14,  # restarts and flushes Redis: its own
    "pull": 12,
    "rollouts": 9,  # was 13: collided with bench.chaos's default
    "chaos": 8,  # tests/workers/delivery/test_chaos.py -> bench.chaos --redis-db 8
    "hostile": 7,  # tests/bench/test_hostile.py -> bench.hostile --redis-db 7
    "demo": 6,  # tests/pipeline/test_demo.py: the demo's own control plane
    "bench-smoke": 10,  # tests/bench -> bench --smoke --redis-db 10
    "access": 5,  # tests/producers/access: role users on a vhost of their own
}
BENCH_DBS = {11: "bench default (bench/sandbox.py)", 13: "bench.chaos default"}
assert 0 not in REDIS_DBS.values() and len(set(REDIS_DBS.values())) == len(REDIS_DBS)
assert not set(REDIS_DBS.values()) & set(BENCH_DBS)


def vhost_of(group: str) -> str:
    """One vhost per group and test session, so runs side by side never share queues."""
    suffix = "" if group == "session" else f"-{group}"
    return f"provision-test{suffix}-{os.getpid()}"


def access_prefix_of(group: str) -> str:
    """The prefix of the broker users a group's `provision enroll` and `access apply` create:
    users are global in RabbitMQ, so each group and session has its own, deleted at close."""
    return f"t{os.getpid()}-{group}"


def drop_users(prefix: str) -> None:
    """Delete the broker users named `<prefix>-...` (through the management API, if it is up)."""
    if not reachable(15672):
        return
    from producers.access.management import DEFAULT_ADMIN_URL, Management

    api = Management(DEFAULT_ADMIN_URL)
    for user in api.users():
        if str(user["name"]).startswith(f"{prefix}-"):
            api.delete_user(str(user["name"]))


def redis_url_of(group: str) -> str:
    return f"redis://127.0.0.1:6379/{REDIS_DBS[group]}"


def wait_until(predicate: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """Poll `predicate` until it returns something truthy; fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.05)


def run_module(
    module: str,
    *args: str,
    env: dict[str, str] | None = None,
    timeout_s: float = 60,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """`python -m MODULE ARGS...` from the repository root, with `env` over ours."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        input=stdin,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
        timeout=timeout_s,
    )


def provision(
    *args: str, env: dict[str, str] | None = None, timeout_s: float = 60, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`provision ARGS...` as a user runs it, with `env` over ours: the one runner of tests."""
    return run_module("producers", *args, env=env, timeout_s=timeout_s, stdin=stdin)


def request_for(
    target_id: str = "t-1", region: str = "eu", address: str = "local:///tmp/t", **fields: Any
) -> Any:
    """A valid change request with nothing to do, for one target: a base for hostile copies."""
    import uuid
    from datetime import UTC, datetime, timedelta

    from contracts import ChangeRequest, DesiredState, Target

    now = datetime.now(UTC)
    return ChangeRequest(
        change_id=str(uuid.uuid4()),
        target=Target(id=target_id, region=region, environment="test", address=address),
        desired=DesiredState(),
        issued_by="tests",
        issued_at=now,
        expires_at=now + timedelta(minutes=5),
        **fields,
    )


def drop_vhost(name: str) -> None:
    """Delete a vhost of the tests' (and everything in it)."""
    ctl = shutil.which("rabbitmqctl")
    if ctl is not None:
        subprocess.run([ctl, "-q", "delete_vhost", name], capture_output=True, timeout=60)


def make_vhost(name: str) -> str:
    """A fresh, empty vhost that guest may use; returns its broker URL."""
    need(reachable(5672), "RabbitMQ is not reachable on 127.0.0.1:5672")
    ctl = shutil.which("rabbitmqctl")
    need(ctl is not None, "rabbitmqctl is needed to create the test vhost")
    assert ctl is not None
    subprocess.run([ctl, "-q", "delete_vhost", name], capture_output=True, timeout=60)
    for args in (["add_vhost", name], ["set_permissions", "-p", name, "guest", ".*", ".*", ".*"]):
        done = subprocess.run([ctl, "-q", *args], capture_output=True, text=True, timeout=60)
        need(done.returncode == 0, f"rabbitmqctl {' '.join(args)} failed: {done.stderr.strip()}")
    return f"amqp://guest:guest@127.0.0.1:5672/{quote(name, safe='')}"


@dataclass
class Isolated:
    """One group's services (its vhost, its Redis database, its PostgreSQL database) and the
    processes it started."""

    group: str
    broker_url: str
    redis_url: str
    database_url: str
    env: dict[str, str]
    supervisor: Supervisor
    redis: Any = field(init=False)
    _database: Any = field(init=False, default=None)

    def __post_init__(self) -> None:
        import redis

        self.redis = redis.Redis.from_url(self.redis_url, decode_responses=True)

    @property
    def database(self) -> Any:
        """A `producers.store.database.Database` on this group's database (opened once)."""
        if self._database is None:
            from producers.store.database import Database

            self._database = Database.open(self.database_url, max_size=2, name=self.group)
        return self._database

    def close(self) -> None:
        """Stop the group's processes and close its pool."""
        self.supervisor.stop()
        if self._database is not None:
            self._database.close()
            self._database = None

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Child:
        """Start one of our processes on this group's services; a name in use is restarted."""
        return self.supervisor.start(name, argv, {**self.env, **(env or {})})

    def wait_consuming(self, *queues: str, timeout_s: float = 60) -> None:
        """Until every queue has a consumer (asked of the broker: no log scraping)."""
        try:
            wait_consuming(self.supervisor, self.broker_url, list(queues), timeout_s)
        except Exception as exc:  # ChildDied or TimeoutError: the test cannot go on
            pytest.fail(f"{self.group}: {exc}")

    def provision(
        self, *args: str, timeout_s: float = 60, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """`provision ARGS...` as a user runs it, on this group's services."""
        return provision(*args, env=self.env, timeout_s=timeout_s, stdin=stdin)

    def amqp(self) -> Any:
        """A new pika connection to this group's vhost (the caller closes it)."""
        import pika

        return pika.BlockingConnection(pika.URLParameters(self.broker_url))

    def dead_letter_with(self, marker: str) -> tuple[Any, bytes] | None:
        """Take the dead letter whose body, `id` header or correlation id holds `marker`.

        Others are left queued (unacked, they go back); None when none is there yet.
        """
        from broker_config import DEAD_QUEUE

        connection = self.amqp()
        try:
            channel = connection.channel()
            while True:
                method, props, body = channel.basic_get(DEAD_QUEUE)
                if method is None:
                    return None
                headers = props.headers or {}
                if marker.encode() in body or marker in (headers.get("id"), props.correlation_id):
                    channel.basic_ack(method.delivery_tag)
                    return props, body
        finally:
            connection.close()


class Isolation:
    """Hands out one Isolated per group (memoised), from the REDIS_DBS table only."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.groups: dict[str, Isolated] = {}

    def __call__(self, group: str, *, fresh: bool = False, **env: str) -> Isolated:
        """The group's services; `fresh` stops its processes and empties its vhost and db."""
        found = self.groups.get(group)
        if found is not None and not fresh:
            return found
        if found is not None:
            found.close()
        need(reachable(6379), "Redis is not reachable on 127.0.0.1:6379")
        broker_url = make_vhost(vhost_of(group))
        redis_url = redis_url_of(group)
        database_url = make_database(database_name_of(group))
        import redis

        redis.Redis.from_url(redis_url).flushdb()
        isolated = Isolated(
            group,
            broker_url,
            redis_url,
            database_url,
            {
                "PROVISION_BROKER_URL": broker_url,
                "PROVISION_REDIS_URL": redis_url,
                "PROVISION_DATABASE_URL": database_url,
                "PROVISION_ACCESS_PREFIX": access_prefix_of(group),
                # Every test process is guest: trusted to speak for every target's outcomes
                # (broker_config.senders). Tests of the sender check run without it.
                "PROVISION_TRUSTED_SENDERS": "guest",
                **env,
            },
            Supervisor(self.logs / group, cwd=ROOT),
        )
        self.groups[group] = isolated
        return isolated

    def close(self) -> None:
        """Every group's processes first, then the vhosts they were using."""
        for isolated in self.groups.values():
            isolated.close()
        for group in self.groups:
            drop_vhost(vhost_of(group))
            drop_database(database_name_of(group))
            drop_users(access_prefix_of(group))
        self.groups.clear()
