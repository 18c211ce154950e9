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

import pika
import pytest

from broker_config import CHANGES_EXCHANGE
from producers.processes.commands import signing_env
from producers.processes.supervisor import Child, Supervisor, wait_consuming
from tests.databases import database_name_of, drop_database, drop_roles, make_database
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
    "dashboard": 4,  # tests/producers/dashboard: dead letters replayed on a vhost of their own
    "traces": 3,  # tests/pipeline/test_traces.py: processes exporting to a test receiver
    "refusals": 2,  # tests/producers/rollouts/test_refused_flood.py: a controller of its own
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
    """Delete the users named `<prefix>-...` everywhere: broker users (through the management
    API, if it is up), Redis ACL users and PostgreSQL login roles (all server-wide)."""
    drop_redis_users(prefix)
    drop_roles(prefix)
    if not reachable(15672):
        return
    from producers.access.management import DEFAULT_ADMIN_URL, Management

    api = Management(DEFAULT_ADMIN_URL)
    for user in api.users():
        if str(user["name"]).startswith(f"{prefix}-"):
            api.delete_user(str(user["name"]))


#: The issuer every test group's database knows, whose key signs the tests' change events.
OPERATOR = "tests-operator"


def operator_key(directory: Path) -> Path:
    """The tests' operator key, made once per session (0600) under `directory`."""
    from contracts.signatures import new_private_key, write_private_key

    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / f"{OPERATOR}.key"
    if not path.exists():
        write_private_key(path, new_private_key())
    return path


def register_operator(database_url: str, key_path: Path) -> None:
    """Register the operator's key in a group's database with a scope that grants
    everything (shell and allow_setid too): the tests' events are signed like anyone's."""
    from contracts.issuers import Scope
    from contracts.signatures import load_private_key
    from producers.store.database import Database
    from producers.truth.issuers import Registry

    with Database.open(database_url, max_size=1, name="operator") as db:
        scope = Scope(shell=True, allow_setid=True)
        Registry(db).ensure(OPERATOR, scope, load_private_key(key_path), actor="tests")


def signed_event_headers(key_path: Path | str, body: bytes) -> dict[str, str]:
    """The headers that sign `body` with the key at `key_path`."""
    from contracts.signatures import load_private_key
    from producers.messaging.emitter import signed_headers

    return signed_headers(load_private_key(key_path), body)


def drop_redis_users(prefix: str) -> None:
    """Delete the Redis ACL users named `<prefix>-...` (as the default user, if Redis is up)."""
    import redis

    if not reachable(6379):
        return
    client = redis.Redis(host="127.0.0.1", port=6379, decode_responses=True)
    try:
        for user in client.execute_command("ACL", "USERS"):
            if str(user).startswith(f"{prefix}-"):
                client.execute_command("ACL", "DELUSER", str(user))
    finally:
        client.close()


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


@dataclass(frozen=True)
class ControllerKeys:
    """The controller's key pair of a test session: `key` signs what tests publish directly,
    `private` (0600) is given to controllers, `public` to workers and enrollments."""

    key: Any
    private: Path
    public: Path

    @property
    def env(self) -> dict[str, str]:
        """PROVISION_CONTROLLER_KEY and PROVISION_CONTROLLER_PUBLIC_KEY: each process takes
        the one it needs."""
        from contracts.controller_signatures import CONTROLLER_KEY_ENV, CONTROLLER_PUBLIC_KEY_ENV

        return {CONTROLLER_KEY_ENV: str(self.private), CONTROLLER_PUBLIC_KEY_ENV: str(self.public)}


#: The session's pair, once the `controller_keys` fixture made it (see `controller_key`).
_session_keys: list[ControllerKeys] = []


def make_controller_keys(directory: Path) -> ControllerKeys:
    """A new controller key pair in `directory` (as `provision controller-key create` makes);
    the first one made is the session's (`controller_key()`)."""
    from contracts.signatures import new_private_key, public_pem, write_private_key

    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = new_private_key()
    private, public = directory / "controller.key", directory / "controller.pub"
    write_private_key(private, key)
    public.write_text(public_pem(key))
    made = ControllerKeys(key, private, public)
    if not _session_keys:
        _session_keys.append(made)
    return made


def controller_key() -> Any:
    """The session's controller private key, for helpers that publish without fixtures."""
    assert _session_keys, "the controller_keys fixture has not run (use a services fixture)"
    return _session_keys[0].key


def signed_request(request: dict[str, Any], key: Any = None) -> dict[str, Any]:
    """`request` (a ChangeRequest's JSON object, maybe edited by a test) signed as the
    controller would sign it (by `key`, default the session's): a test message that is
    refused is then refused for what the test made wrong, not for its signature."""
    from contracts.controller_signatures import sign_request

    unsigned = {k: v for k, v in request.items() if k != "signature"}
    return {**unsigned, "signature": sign_request(key or controller_key(), unsigned)}


def publish_task(conn: Any, routing_key: str, headers: dict[str, Any], body: bytes | str) -> None:
    """Publish one task message straight onto the changes exchange, as any broker user can:
    with Celery's message properties (`headers`' task id as its correlation id), confirmed
    and mandatory, but through none of the publisher's checks and signing. `body` goes as
    the test made it (`producers.messaging.publisher.task_message` makes a good one)."""
    channel = conn.channel()
    channel.confirm_delivery()
    channel.basic_publish(
        CHANGES_EXCHANGE,
        routing_key,
        body,
        pika.BasicProperties(
            content_type="application/json",
            content_encoding="utf-8",
            headers=headers,
            correlation_id=headers["id"],
            delivery_mode=2,
        ),
        mandatory=True,
    )


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

    def emit_event(self, event: dict[str, Any] | bytes, routing_key: str = "tests") -> bytes:
        """Publish a change event signed with the operator's key, as a plain pika client
        would; `issued_at` (now) is set in a dict without one (so `json.dumps(event)` is
        the body sent). Returns the body sent."""
        import json
        from datetime import UTC, datetime

        import pika

        from broker_config import EVENTS_EXCHANGE

        if isinstance(event, dict):
            event.setdefault("issued_at", datetime.now(UTC).isoformat())
            body = json.dumps(event).encode()
        else:
            body = event
        headers = signed_event_headers(self.env["PROVISION_SIGNING_KEY"], body)
        connection = self.amqp()
        try:
            channel = connection.channel()
            channel.confirm_delivery()
            channel.basic_publish(
                EVENTS_EXCHANGE,
                routing_key,
                body,
                pika.BasicProperties(
                    content_type="application/json", delivery_mode=2, headers=headers
                ),
                mandatory=True,
            )
        finally:
            connection.close()
        return body

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

    def __init__(
        self,
        logs: Path,
        operator: Path | None = None,
        controller_keys: ControllerKeys | None = None,
    ) -> None:
        self.logs = logs
        #: The operator key registered in every group's database (None: none registered).
        self.operator = operator
        self.groups: dict[str, Isolated] = {}
        #: Every group's processes get the session's controller key pair by environment.
        self.controller_keys = controller_keys

    def _signing(self, database_url: str) -> dict[str, str]:
        """Register the operator in a new group's database; the env that signs with it."""
        if self.operator is None:
            return {}
        register_operator(database_url, self.operator)
        return signing_env(self.operator)

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
                **self._signing(database_url),
                **(self.controller_keys.env if self.controller_keys else {}),
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
