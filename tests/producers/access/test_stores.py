"""Redis and PostgreSQL themselves refuse each role what is not its own: Redis answers
NOPERM (a key or a command outside the role's ACL), PostgreSQL "permission denied"; and the
code each role runs works under exactly those rights.

Each role connects with the URLs of its own `DIR/<user>.env`, as `provision access apply`
wrote it (Redis database 5 and the group's PostgreSQL database).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import redis
from redis.exceptions import NoPermissionError

from broker_config import redis_keys
from broker_config.redis_access import REDIS_RIGHTS
from contracts import OutcomeEvent
from producers.access.environment import role_environment
from producers.access.grants import APPEND_ONLY, GRANTS
from producers.counters.pacing import Pacer
from producers.counters.sequences import next_sequences
from producers.store import audit
from tests.producers.access.conftest import AccessVhost
from workers.delivery.guard import Guard

#: Slow (every role's connections to Redis and PostgreSQL, after `provision access apply`).
pytestmark = pytest.mark.slow

PG_ROLES = ("controller", "aggregator", "operator")


def env_of(applied: AccessVhost, role: str, instance: str | None = None) -> dict[str, str]:
    return role_environment(applied.out, applied.user(role, instance))


@contextmanager
def redis_as(applied: AccessVhost, role: str, instance: str | None = None) -> Iterator[Any]:
    url = env_of(applied, role, instance)["PROVISION_REDIS_URL"]
    assert urlsplit(url).username == applied.user(role, instance)
    assert urlsplit(url).path == "/5", "the group's Redis database"
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        yield client
    finally:
        client.close()


@contextmanager
def database_as(applied: AccessVhost, role: str) -> Iterator[psycopg.Connection]:
    url = env_of(applied, role)["PROVISION_DATABASE_URL"]
    assert urlsplit(url).username == applied.user(role)
    with psycopg.connect(url, autocommit=True) as conn:
        yield conn


# -- Redis --------------------------------------------------------------------------------------


def test_redis_reports_exactly_the_tables_rules_and_only_the_roles_that_use_it(
    applied: AccessVhost,
) -> None:
    admin = applied.iso.redis
    for role, instance in (("controller", None), ("worker", "eu"), ("worker", "us")):
        got = admin.execute_command("ACL", "GETUSER", applied.user(role, instance))
        rights = REDIS_RIGHTS[role]
        assert got["flags"][0] == "on" and "nopass" not in got["flags"]
        assert set(got["keys"].split()) == {f"~{p}" for p in rights.keys}
        commands = got["commands"].split()
        assert commands[0] == "-@all" and set(commands[1:]) == {f"+{c}" for c in rights.commands}
        assert got["channels"] == ""
    for role, instance in (
        ("aggregator", None), ("operator", None), ("emitter", "billing"), ("agent", "web-1")
    ):  # fmt: skip
        assert admin.execute_command("ACL", "GETUSER", applied.user(role, instance)) is None
        if role != "agent":  # agents have no env file: `provision enroll` makes them
            assert "PROVISION_REDIS_URL" not in env_of(applied, role, instance)
    default = admin.execute_command("ACL", "GETUSER", "default")
    assert "on" in default["flags"], "the default user is left as it is"


Call = Callable[[Any], Any]
WORKER_REFUSED: list[tuple[str, Call]] = [
    ("the request fence", lambda r: r.set(redis_keys.SEQUENCE.format(target="t"), 9)),
    ("rollout pacing", lambda r: r.zadd(redis_keys.inflight_key("c", "eu"), {"t": 1})),
    ("the check-in backlog", lambda r: r.zcard(redis_keys.CHECKINS_WAITING)),
    ("a key of nobody's", lambda r: r.set("anything", 1)),
    ("KEYS", lambda r: r.keys("*")),
    ("SCAN", lambda r: r.scan(0)),
    ("FLUSHDB", lambda r: r.flushdb()),
    ("FLUSHALL", lambda r: r.flushall()),
    ("CONFIG", lambda r: r.config_get("*")),
    ("ACL", lambda r: r.execute_command("ACL", "LIST")),
    ("MODULE LIST", lambda r: r.execute_command("MODULE", "LIST")),
    ("EVAL", lambda r: r.eval("return 1", 0)),
    ("SCRIPT FLUSH", lambda r: r.script_flush()),
    ("CLIENT LIST", lambda r: r.client_list()),
    ("PUBLISH", lambda r: r.publish("provision", "x")),
]
CONTROLLER_REFUSED: list[tuple[str, Call]] = [
    ("a target's lock", lambda r: r.set(redis_keys.LOCK.format(target="t"), "x")),
    ("a target's fence", lambda r: r.get(redis_keys.FENCE.format(target="t"))),
    ("an outcome record", lambda r: r.get(redis_keys.DONE.format(change_id="c", target="t"))),
    ("a delivery count", lambda r: r.incr(redis_keys.DELIVERIES.format(task_id="i", round=0))),
    ("KEYS", lambda r: r.keys("provision:*")),
    ("FLUSHALL", lambda r: r.flushall()),
    ("CONFIG SET", lambda r: r.config_set("maxmemory", "1")),
    ("REPLICAOF", lambda r: r.execute_command("REPLICAOF", "NO", "ONE")),
    ("DEL", lambda r: r.delete(redis_keys.SEQUENCE.format(target="t"))),
]


@pytest.mark.parametrize(("what", "call"), WORKER_REFUSED, ids=[w for w, _ in WORKER_REFUSED])
def test_redis_answers_noperm_to_a_worker_outside_its_keys_and_commands(
    applied: AccessVhost, what: str, call: Call
) -> None:
    with redis_as(applied, "worker", "eu") as client, pytest.raises(NoPermissionError):
        call(client)


@pytest.mark.parametrize(
    ("what", "call"), CONTROLLER_REFUSED, ids=[w for w, _ in CONTROLLER_REFUSED]
)
def test_redis_answers_noperm_to_the_controller_outside_its_keys_and_commands(
    applied: AccessVhost, what: str, call: Call
) -> None:
    with redis_as(applied, "controller") as client, pytest.raises(NoPermissionError):
        call(client)


def test_the_worker_guard_runs_as_the_worker_user(applied: AccessVhost) -> None:
    target, change_id = f"t-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    with redis_as(applied, "worker", "us") as client:
        guard = Guard(client)
        begun = guard.begin("task-1", "0", change_id, target)
        assert begun.starts == 1 and begun.recorded is None and begun.fence is None
        with guard.lock(target):
            assert applied.iso.redis.get(redis_keys.LOCK.format(target=target))
        now = datetime.now(UTC)
        event = OutcomeEvent(
            outcome_id=str(uuid.uuid4()), change_id=change_id, target=target,
            status="changed", worker="w", started_at=now, finished_at=now,
        )  # fmt: skip
        guard.record(event, 7)
        again = guard.begin("task-1", "0", change_id, target)
        assert again.starts == 2 and again.fence == 7 and again.recorded == event


def test_the_controllers_pacing_and_fence_run_as_the_controller_user(
    applied: AccessVhost,
) -> None:
    change_id = str(uuid.uuid4())
    with redis_as(applied, "controller") as client:
        pacer = Pacer(client)
        slot = redis_keys.inflight_key(change_id, "eu")
        assert pacer.acquire(slot, "web-1", 1, 30) and not pacer.acquire(slot, "web-2", 1, 30)
        pacer.release(slot, "web-1")
        assert pacer.in_flight(slot) == 0
        assert pacer.wait_s(redis_keys.rate_key(change_id, "eu"), 100.0) == 0
        first = next_sequences(client, ["web-1", "web-2"])
        assert next_sequences(client, ["web-1"])["web-1"] > first["web-1"]
        assert client.ping()


def test_redis_refuses_a_wrong_password(applied: AccessVhost) -> None:
    url = env_of(applied, "worker", "eu")["PROVISION_REDIS_URL"]
    parts = urlsplit(url)
    wrong = parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":nope@"))
    with pytest.raises(redis.AuthenticationError):
        redis.Redis.from_url(urlunsplit(wrong)).ping()


# -- PostgreSQL ---------------------------------------------------------------------------------


def test_postgresql_reports_exactly_the_tables_grants(applied: AccessVhost) -> None:
    done = applied.access("show", "--json")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    roles = {r["role_name"]: r for r in shown["database_roles"]}
    for role in PG_ROLES:
        got = roles[applied.user(role)]
        assert got["role"] == role and got["login"] is True
        expected = {t: sorted(p) for t, p in GRANTS[role].items()}
        assert {t: sorted(p) for t, p in got["grants"].items()} == expected, role
    assert not {applied.user("worker", "eu"), applied.user("emitter", "billing")} & set(roles)
    redis_users = {u["user"] for u in shown["redis_users"]}
    assert redis_users == {applied.user("controller"), applied.user("worker", "eu"),
                           applied.user("worker", "us")}  # fmt: skip
    for text in (done.stdout, done.stderr):
        assert "passwords" not in text and "SCRAM" not in text


def test_every_table_of_the_migrations_is_granted_and_every_grant_names_one(
    applied: AccessVhost,
) -> None:
    with psycopg.connect(applied.admin_database_url) as conn:
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )
        }
    granted = {t for grants in GRANTS.values() for t in grants}
    assert granted <= tables, granted - tables
    assert set(GRANTS["operator"]) == tables, "the operator reads every table"


REFUSED_SQL: list[tuple[str, str]] = [
    ("aggregator", "INSERT INTO rollouts (rollout_id, state) VALUES ('x', 'planned')"),
    ("aggregator", "UPDATE rollouts SET reason = 'x'"),
    ("aggregator", "SELECT * FROM enrollments"),
    ("aggregator", "SELECT * FROM rejected_events"),
    ("aggregator", "INSERT INTO changes (change_id, issued_by, issued_at) VALUES ('x','y',now())"),
    ("controller", "INSERT INTO applied_revisions VALUES ('t', 1, 'c', 'e', now())"),
    ("controller", "DELETE FROM targets"),
    ("controller", "UPDATE enrollments SET public_key = NULL"),
    ("controller", "SELECT * FROM issuer_keys FOR UPDATE"),
    ("controller", "DELETE FROM seen_events"),
    ("operator", "INSERT INTO changes (change_id, issued_by, issued_at) VALUES ('x','y',now())"),
    ("operator", "DELETE FROM rollouts"),
    ("operator", "INSERT INTO checkin_nonces VALUES ('t', 'aaaaaaaaaaaaaaaaaaaaaa', now())"),
]
REFUSED_SQL += [
    (role, statement.format(table=table))
    for role in PG_ROLES
    for table in APPEND_ONLY
    for statement in ("UPDATE {table} SET id = id", "DELETE FROM {table}", "TRUNCATE {table}")
    if table not in ("revisions", "rendered_states", "rendered_signatures")
]
REFUSED_SQL += [
    (role, statement)
    for role in PG_ROLES
    for statement in (
        "UPDATE revisions SET author = 'x'",
        "DELETE FROM rendered_states",
        "TRUNCATE schema_migrations",
        "DELETE FROM schema_migrations",
        "CREATE TABLE spy (i int)",
        "ALTER TABLE outcomes DISABLE TRIGGER outcomes_append_only",
        "DROP TABLE audit_log",
        "CREATE ROLE spy",
    )
]


@pytest.mark.parametrize(("role", "statement"), REFUSED_SQL)
def test_postgresql_answers_permission_denied_outside_the_role(
    applied: AccessVhost, role: str, statement: str
) -> None:
    with database_as(applied, role) as conn, pytest.raises(psycopg.Error) as refused:
        conn.execute(statement)
    assert isinstance(refused.value, psycopg.errors.InsufficientPrivilege) or (
        "must be owner" in str(refused.value)
    ), str(refused.value)
    assert "permission denied" in str(refused.value) or "must be owner" in str(refused.value)
    assert "append-only" not in str(refused.value), "refused by the grant, not the trigger"


def test_what_each_role_needs_is_allowed(applied: AccessVhost) -> None:
    with database_as(applied, "operator") as conn:
        entry = audit.append(conn, actor="tests", action="probe", subject="access")
        assert entry.id >= 1 and audit.verify(conn) is None
    with database_as(applied, "aggregator") as conn:
        assert conn.execute("SELECT count(*) FROM outcomes").fetchone() is not None
    with database_as(applied, "controller") as conn:
        assert conn.execute("SELECT max(version) FROM schema_migrations").fetchone()


@pytest.mark.parametrize(("role", "instance"), [("worker", "eu"), ("emitter", "billing")])
def test_workers_and_emitters_have_no_database_login(
    applied: AccessVhost, role: str, instance: str
) -> None:
    assert "PROVISION_DATABASE_URL" not in env_of(applied, role, instance)
    admin = urlsplit(applied.admin_database_url)
    as_role = admin._replace(netloc=f"{applied.user(role, instance)}@{admin.hostname}:5432")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(urlunsplit(as_role), connect_timeout=5).close()


def test_revoke_removes_the_user_from_every_store(applied: AccessVhost, tmp_path: Any) -> None:
    prefix = f"{applied.prefix}-gone"
    done = applied.access("apply", "--out", str(tmp_path), "--prefix", prefix)
    assert done.returncode == 0, done.stderr
    user = f"{prefix}-controller"
    env = role_environment(tmp_path, user)
    assert redis.Redis.from_url(env["PROVISION_REDIS_URL"]).ping()
    revoked = applied.access("revoke", user)
    assert revoked.returncode == 0, revoked.stderr
    assert "Redis user deleted" in revoked.stdout and "PostgreSQL role dropped" in revoked.stdout
    assert applied.api.user(user) is None
    assert applied.iso.redis.execute_command("ACL", "GETUSER", user) is None
    with psycopg.connect(applied.admin_database_url) as conn:
        assert conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone() is None
    with pytest.raises(redis.AuthenticationError):
        redis.Redis.from_url(env["PROVISION_REDIS_URL"]).ping()
    for other in ("aggregator", "operator"):
        assert applied.access("revoke", f"{prefix}-{other}").returncode == 0
    refused = applied.access("revoke", "default")
    assert refused.returncode == 2, refused.stdout
    superuser = applied.access("revoke", "postgres")
    assert superuser.returncode == 2 and "superuser" in superuser.stderr


def test_the_servers_hold_the_passwords_of_the_env_files_and_never_saw_them_in_clear(
    applied: AccessVhost,
) -> None:
    """Redis keeps the SHA-256 of the .env password, PostgreSQL a SCRAM verifier of it."""
    for role, instance in (("controller", None), ("worker", "eu")):
        url = env_of(applied, role, instance)["PROVISION_REDIS_URL"]
        got = applied.iso.redis.execute_command("ACL", "GETUSER", applied.user(role, instance))
        assert got["passwords"] == [hashlib.sha256(urlsplit(url).password.encode()).hexdigest()]
    with psycopg.connect(applied.admin_database_url) as conn:
        for role in PG_ROLES:
            password = urlsplit(env_of(applied, role)["PROVISION_DATABASE_URL"]).password
            row = conn.execute(
                "SELECT rolpassword FROM pg_authid WHERE rolname = %s", (applied.user(role),)
            ).fetchone()
            assert row is not None and password
            kind, rest = row[0].split("$", 1)
            counts, keys = rest.split("$")
            iterations, salt = counts.split(":")
            stored_key = keys.split(":")[0]
            salted = hashlib.pbkdf2_hmac(
                "sha256", password.encode(), base64.b64decode(salt), int(iterations)
            )
            client_key = hmac.digest(salted, b"Client Key", "sha256")
            assert kind == "SCRAM-SHA-256"
            assert base64.b64encode(hashlib.sha256(client_key).digest()).decode() == stored_key


def test_env_files_are_private_and_hold_only_the_roles_stores(applied: AccessVhost) -> None:
    for path in applied.out.glob("*.env"):
        assert path.stat().st_mode & 0o777 == 0o600, path
        names = {line.split("=", 1)[0] for line in path.read_text().splitlines()}
        assert "PROVISION_BROKER_URL" in names, path
    worker = env_of(applied, "worker", "eu")
    assert set(worker) == {"PROVISION_BROKER_URL", "PROVISION_REDIS_URL"}
    assert set(env_of(applied, "aggregator")) == {"PROVISION_BROKER_URL", "PROVISION_DATABASE_URL"}
    assert len(env_of(applied, "controller")) == 3


def test_an_administrator_that_may_not_create_roles_is_told_so_before_anything_changes(
    applied: AccessVhost, tmp_path: Any
) -> None:
    prefix = f"{applied.prefix}-norole"
    done = applied.iso.provision("access", "apply", "--out", str(tmp_path), "--prefix", prefix)
    assert done.returncode == 1 and "may not create roles" in done.stderr, done.stderr
    assert "provisioning-local" not in done.stderr + done.stdout
    assert applied.api.user(f"{prefix}-controller") is None and not list(tmp_path.iterdir())


def test_a_role_of_the_same_name_that_is_not_ours_is_left_alone(
    applied: AccessVhost, tmp_path: Any
) -> None:
    prefix = f"{applied.prefix}-taken"
    with psycopg.connect(applied.admin_database_url, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{prefix}-controller" LOGIN CREATEDB')
    done = applied.access("apply", "--out", str(tmp_path), "--prefix", prefix)
    assert done.returncode == 1 and "is not a provision role" in done.stderr, done.stderr
    with psycopg.connect(applied.admin_database_url) as conn:
        row = conn.execute(
            "SELECT rolcreatedb FROM pg_roles WHERE rolname = %s", (f"{prefix}-controller",)
        ).fetchone()
    assert row == (True,), "its attributes are untouched"
    assert applied.api.user(f"{prefix}-controller") is None, "nothing was applied"
