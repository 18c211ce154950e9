"""Every operator action leaves exactly one audit record (who, what, which subject), a
refused action leaves none, and an action and its record commit together or not at all.

The commands run in this process (click's runner) on the session group's broker and a
PostgreSQL database of this module's own: they load inventories and publish revisions,
which must not reach the session's shared system of record.
"""

from __future__ import annotations

import json
import os
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pika
import pytest
from click.testing import CliRunner, Result

from broker_config import DEAD_QUEUE, declare
from broker_config.dead_letters import dead_letter, pika_send
from contracts.signatures import key_id_of, new_private_key, write_private_key
from producers.cli import cli
from producers.records import audit as records
from producers.store import audit as trail
from producers.store import rollouts as books
from producers.store.audit import AuditEntry
from producers.store.database import Database
from tests.databases import drop_database, make_database, pg_superuser_url
from tests.isolation import Isolated, drop_users, drop_vhost, make_vhost, need, reachable
from tests.producers.truth.conftest import EXAMPLE

ACTOR = "ops-alice"


@pytest.fixture(scope="module")
def own_db(session_services: Isolated) -> Iterator[Database]:
    name = f"provisioning_test_audit_{os.getpid()}_{secrets.token_hex(4)}"
    url = make_database(name)
    db = Database.open(url, max_size=2, name="tests-audit")
    yield db
    db.close()
    drop_database(name)


@pytest.fixture
def env(own_db: Database, monkeypatch: pytest.MonkeyPatch) -> Database:
    """Commands run on `own_db` as ACTOR."""
    monkeypatch.setenv("PROVISION_DATABASE_URL", own_db.url)
    monkeypatch.setenv(records.ACTOR_ENV, ACTOR)
    return own_db


def database_name_of_url(db: Database) -> str:
    """The name of the database a pool is on (the last part of its URL's path)."""
    return db.url.rsplit("/", 1)[-1].split("?", 1)[0]


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=True)


def last_id(db: Database) -> int:
    with db.connection() as conn:
        row = conn.execute("SELECT coalesce(max(id), 0) FROM audit_log").fetchone()
    return int(row[0]) if row else 0


def since(db: Database, after: int) -> list[AuditEntry]:
    with db.connection() as conn:
        return trail.entries(conn, after_id=after)


def one(db: Database, after: int, action: str, subject: str) -> AuditEntry:
    """The one record made since `after`: it must be `action` on `subject` by ACTOR."""
    made = since(db, after)
    assert [(e.actor, e.action, e.subject) for e in made] == [(ACTOR, action, subject)]
    return made[0]


def rollout(db: Database, state: str = "running") -> str:
    from contracts.events import RolloutState

    rid = str(uuid.uuid4())
    with db.connection() as conn:
        books.create(conn, rid, event_json="{}", issued_by="tests", waves=[])
        if state != "planned":
            books.set_state(conn, rid, RolloutState(state), "tests")
    return rid


def test_the_actor_is_provision_actor_else_user_at_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(records.ACTOR_ENV, " release-bot ")
    assert records.actor() == "release-bot"
    monkeypatch.delenv(records.ACTOR_ENV)
    monkeypatch.delenv("PROVISION_SIGNING_KEY", raising=False)
    assert "@" in records.actor() and "key" not in records.actor()
    for bad in ("", "a\nb", "x" * 201):
        monkeypatch.setenv(records.ACTOR_ENV, bad)
        with pytest.raises(records.ActorError, match=records.ACTOR_ENV):
            records.actor()


def test_the_actor_names_the_operators_signing_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key = new_private_key()
    write_private_key(tmp_path / "op.key", key)
    monkeypatch.delenv(records.ACTOR_ENV, raising=False)
    monkeypatch.setenv("PROVISION_SIGNING_KEY", str(tmp_path / "op.key"))
    assert records.actor().endswith(f" (key {key_id_of(key.public_key())})")
    monkeypatch.setenv("PROVISION_SIGNING_KEY", str(tmp_path / "missing.key"))
    assert "key" not in records.actor(), "an unreadable key names nobody"


def test_pause_resume_abort_each_leave_one_record(env: Database) -> None:
    rid = rollout(env)
    for verb, to in (("pause", "paused"), ("resume", "running"), ("abort", "aborted")):
        before = last_id(env)
        done = run("rollout", verb, rid)
        assert done.exit_code == 0, done.output
        entry = one(env, before, f"rollout.{verb}", rid)
        assert entry.detail["change_id"] == rid and entry.detail["to"] == to


def test_a_refused_steer_leaves_no_record(env: Database) -> None:
    before = last_id(env)
    assert run("rollout", "pause", f"unknown-{uuid.uuid4()}").exit_code != 0
    assert run("rollout", "resume", rollout(env)).exit_code != 0  # running: not paused
    assert run("rollout", "pause", rollout(env, "aborted")).exit_code != 0  # final
    assert since(env, before) == []


def test_an_action_whose_record_fails_is_not_made(
    env: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The state change and its record are one transaction: no record, no pause."""
    rid = rollout(env)
    before = last_id(env)

    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("the audit trail is away")

    monkeypatch.setattr(trail, "append", broken)
    assert run("rollout", "pause", rid).exit_code != 0
    monkeypatch.undo()
    with env.connection() as conn:
        assert books.transitions(conn, rid)[-1].to_state.value == "running"
    assert since(env, before) == []


def test_a_bad_actor_stops_an_action_before_it_is_made(
    env: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    rid = rollout(env)
    before = last_id(env)
    monkeypatch.setenv(records.ACTOR_ENV, "two\nlines")
    assert run("rollout", "pause", rid).exit_code != 0
    with env.connection() as conn:
        assert books.transitions(conn, rid)[-1].to_state.value == "running"
    assert since(env, before) == []


def test_inventory_load_state_publish_and_waivers_each_leave_one_record(
    env: Database, tmp_path: Path
) -> None:
    before = last_id(env)
    bad = tmp_path / "bad.yaml"
    bad.write_text("targets: [{id: x}]\n")
    assert run("inventory", "load", str(bad)).exit_code != 0
    assert since(env, before) == []

    inventory = EXAMPLE / "inventory.yaml"
    assert run("inventory", "load", str(inventory)).exit_code == 0
    loaded = one(env, before, "inventory.load", str(inventory.resolve()))
    assert loaded.detail["total"] == loaded.detail["added"] > 0

    before = last_id(env)
    done = run("state", "publish", str(EXAMPLE), "-m", "audited", "--json")
    assert done.exit_code == 0, done.output
    number = json.loads(done.output)["sequence"]
    published = one(env, before, "state.publish", str(number))
    assert published.detail["message"] == "audited" and published.detail["revision"] == number

    before = last_id(env)
    assert run("state", "publish", str(EXAMPLE), "-m", "again").exit_code == 0  # unchanged
    assert since(env, before) == []

    before = last_id(env)
    waiver = ["--resource", "/etc/motd", "--owner", "web-team", "--reason", "load test"]
    expired = run("waiver", "add", *waiver, "--expires-at", "2001-01-01T00:00:00Z")
    assert expired.exit_code != 0
    assert since(env, before) == []
    added = run("waiver", "add", *waiver, "--expires-at", "2099-06-01T00:00:00Z")
    assert added.exit_code == 0, added.output
    (entry,) = since(env, before)
    assert (entry.actor, entry.action) == (ACTOR, "waiver.add")
    shown = entry.detail["waiver"]
    assert (shown["owner"], shown["reason"], shown["resource"]) == (
        "web-team",
        "load test",
        "/etc/motd",
    )
    assert shown["expires_at"].startswith("2099-06-01") and entry.subject == shown["id"]
    assert entry.detail["before"] is None and entry.detail["revision"] == number + 1

    before = last_id(env)
    assert run("waiver", "remove", "no-such-waiver").exit_code != 0
    assert since(env, before) == []
    assert run("waiver", "remove", entry.subject).exit_code == 0
    removed = one(env, before, "waiver.remove", entry.subject)
    assert removed.detail["before"]["owner"] == "web-team" and removed.detail["waiver"] is None


def test_enroll_then_enroll_again_records_enroll_then_rotate(env: Database, tmp_path: Path) -> None:
    assert run("inventory", "load", str(EXAMPLE / "inventory.yaml")).exit_code == 0
    target = "web-eu-prod"
    url = "amqp://agent-user:s3cret-pass@127.0.0.1:5672/x"
    before = last_id(env)
    assert run("enroll", "ghost", "--out", str(tmp_path / "g"), "--broker-url", url).exit_code
    assert since(env, before) == []

    first = run("enroll", target, "--out", str(tmp_path / "a"), "--broker-url", url)
    assert first.exit_code == 0, first.output
    enrolled = one(env, before, "agent.enroll", target)
    assert enrolled.detail["broker_user"] == "agent-user"
    assert enrolled.detail["previous_public_key"] is None

    before = last_id(env)
    again = run("enroll", target, "--out", str(tmp_path / "b"), "--broker-url", url)
    assert again.exit_code == 0, again.output
    rotated = one(env, before, "agent.rotate", target)
    assert rotated.detail["previous_public_key"] == enrolled.detail["public_key"]
    secrets_on_disk = json.loads((tmp_path / "b" / "credentials.json").read_text())
    text = json.dumps([enrolled.detail, rotated.detail])
    assert "s3cret-pass" not in text and secrets_on_disk["private_key"] not in text


def test_access_apply_and_revoke_name_users_and_roles_never_passwords(
    env: Database, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    need(reachable(15672), "the RabbitMQ management API is not reachable on 127.0.0.1:15672")
    prefix = f"t{os.getpid()}-audit"  # users and roles are server-wide: ours, dropped after
    admin = ["--prefix", prefix, "--database-url", pg_superuser_url(database_name_of_url(env))]
    request.addfinalizer(lambda: drop_users(prefix))
    before = last_id(env)
    out = tmp_path / "access"
    done = run("access", "apply", "--out", str(out), "--region", "eu", "--json", *admin)
    assert done.exit_code == 0, done.output
    applied = json.loads(done.output.strip().splitlines()[-1])
    entry = one(env, before, "access.apply", applied["vhost"])
    users = {u["user"]: u["role"] for u in entry.detail["users"]}
    assert users == {u["user"]: u["role"] for u in applied["users"]}
    text = json.dumps(entry.detail)
    for url_file in out.iterdir():
        password = url_file.read_text().split("@")[0].rsplit(":", 1)[-1]
        assert password not in text

    worker = next(u for u, role in users.items() if role.startswith("worker"))
    before = last_id(env)
    revoke = ["--database-url", admin[-1]]
    assert run("access", "revoke", f"{worker}-nobody", *revoke).exit_code != 0
    assert since(env, before) == []
    assert run("access", "revoke", worker, *revoke).exit_code == 0
    one(env, before, "access.revoke", worker)


@pytest.fixture
def dead_vhost(env: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A vhost of the test's own with the topology, a place to replay to, and the env."""
    vhost = f"provision-test-audit-{os.getpid()}-{secrets.token_hex(3)}"
    url = make_vhost(vhost)
    monkeypatch.setenv("PROVISION_BROKER_URL", url)
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        declare(connection)
        channel = connection.channel()
        channel.exchange_declare("audit-test", "direct")
        channel.queue_declare("audit-replayed")
        channel.queue_bind("audit-replayed", "audit-test", "again")
        for n in range(3):
            dead_letter(
                pika_send(connection),
                body={"n": n},
                headers={"id": f"dl-{n}"},
                reason=f"test death {n}",
                source="tests",
                exchange="audit-test",
                routing_key="again",
            )
    finally:
        connection.close()
    yield url
    drop_vhost(vhost)


def depth(url: str, queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        return int(connection.channel().queue_declare(queue, passive=True).method.message_count)
    finally:
        connection.close()


def test_dead_letter_replay_and_purge_record_how_many_and_which(
    env: Database, dead_vhost: str
) -> None:
    before = last_id(env)
    assert run("dlq", "replay", "dl-9").exit_code != 0  # none such: nothing done
    assert run("dlq", "replay", "dl-0", "--dry-run").exit_code == 0
    assert since(env, before) == []

    assert run("dlq", "replay", "dl-0").exit_code == 0
    replayed = one(env, before, "dlq.replay", "dl-0")
    assert (replayed.detail["count"], replayed.detail["ids"]) == (1, ["dl-0"])
    assert depth(dead_vhost, "audit-replayed") == 1

    before = last_id(env)
    assert run("dlq", "purge", "--all", "--yes").exit_code == 0
    purged = one(env, before, "dlq.purge", "all")
    assert purged.detail["count"] == 2 and sorted(purged.detail["ids"]) == ["dl-1", "dl-2"]
    assert depth(dead_vhost, DEAD_QUEUE) == 0

    before = last_id(env)
    assert run("dlq", "purge", "--all", "--yes").exit_code == 0  # nothing left: no record
    assert since(env, before) == []
