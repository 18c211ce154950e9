"""Migrations: a fresh database, an idempotent rerun, and the start check that says what to run."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Callable
from urllib.parse import urlsplit

import psycopg
import pytest

from contracts import ExitCode
from producers.store.errors import DatabaseUnreachable, MigrationError, SchemaMismatch
from producers.store.migrate import available, check_schema, migrate, require_schema, status
from tests.isolation import provision

#: Slow (creates and migrates databases of its own), so not in the quick loop, `pytest -m "not
#: slow"`.
pytestmark = pytest.mark.slow

TABLES = {
    "revisions",
    "rendered_states",
    "rendered_signatures",
    "targets",
    "enrollments",
    "assigned_revisions",
    "applied_revisions",
    "changes",
    "change_targets",
    "outcomes",
    "rollouts",
    "rollout_waves",
    "rollout_targets",
    "rollout_transitions",
    "compliance_observations",
    "checkin_refusals",
    "checkin_nonces",
    "rejected_events",
    "audit_log",
    "issuers",
    "issuer_keys",
    "seen_events",
    "schema_migrations",
}


def _tables(conn: psycopg.Connection) -> set[str]:
    rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {row[0] for row in rows.fetchall()}


def _provision(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    return provision(*args, env={"PROVISION_DATABASE_URL": url})


def test_the_shipped_migrations_are_numbered_without_gaps() -> None:
    versions = [m.version for m in available()]
    assert versions == list(range(1, len(versions) + 1))
    assert len(versions) >= 2


def test_fresh_database_gets_every_table_and_a_rerun_changes_nothing(
    make_database: Callable[[], str],
) -> None:
    url = make_database()
    with psycopg.connect(url, autocommit=True) as conn:
        assert _tables(conn) == set()
        done = migrate(conn)
        assert [m.version for m in done] == [m.version for m in available()]
        assert _tables(conn) == TABLES
        assert check_schema(conn) == len(available())
        assert migrate(conn) == []
        now = status(conn)
        assert now.pending == [] and now.current == now.latest == len(available())
        assert [a.version for a in now.applied] == [m.version for m in available()]


def test_two_migrators_at_once_apply_each_migration_once(make_database: Callable[[], str]) -> None:
    url = make_database()
    applied: list[list[int]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                applied.append([m.version for m in migrate(conn)])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert sorted(applied, key=len) == [[], [m.version for m in available()]]


def test_a_database_behind_says_exactly_what_to_run(make_database: Callable[[], str]) -> None:
    url = make_database()
    with pytest.raises(SchemaMismatch, match=r"has no schema yet.*run `provision db migrate`"):
        require_schema(url)
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn, to=1)
        with pytest.raises(SchemaMismatch) as behind:
            check_schema(conn)
    message = str(behind.value)
    assert "\n" not in message
    assert "at version 1" in message and "run `provision db migrate`" in message
    assert behind.value.exit_code == ExitCode.UNREACHABLE

    shown = _provision("db", "status", "--json", url=url)
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    assert (report["version"], report["latest"]) == (1, len(available()))
    assert [p["version"] for p in report["pending"]] == list(range(2, len(available()) + 1))
    password = urlsplit(url).password
    if password:  # the default URL has one; a user's may use peer authentication
        assert ":***@" in report["database"] and password not in shown.stdout

    checked = _provision("db", "check", url=url)
    assert checked.returncode == ExitCode.UNREACHABLE
    assert checked.stderr.strip().splitlines() == [f"error: {message}"]

    migrated = _provision("db", "migrate", url=url)
    assert migrated.returncode == 0, migrated.stderr
    assert "applied 0002_audit_trail" in migrated.stdout
    assert _provision("db", "check", url=url).returncode == 0


def test_a_database_ahead_of_the_code_says_to_upgrade(make_database: Callable[[], str]) -> None:
    url = make_database()
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn)
        conn.execute(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, 'future', 'x')",
            (len(available()) + 1,),
        )
        with pytest.raises(SchemaMismatch, match=r"newer than this provision knows.*upgrade"):
            check_schema(conn)


def test_an_applied_migration_that_was_edited_is_an_error(make_database: Callable[[], str]) -> None:
    url = make_database()
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn)
        conn.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
        with pytest.raises(MigrationError, match="0001_system_of_record was changed"):
            status(conn)


def test_an_unreachable_database_is_one_line_without_the_password() -> None:
    url = "postgresql://someone:hunter2-secret@127.0.0.1:1/provisioning"
    with pytest.raises(DatabaseUnreachable) as caught:
        require_schema(url)
    assert "hunter2-secret" not in str(caught.value)
    assert "postgresql://someone:***@127.0.0.1:1/provisioning" in str(caught.value)
    done = _provision("db", "status", url=url)
    assert done.returncode == ExitCode.UNREACHABLE
    assert "hunter2-secret" not in done.stderr + done.stdout
    assert done.stderr.startswith("error: PostgreSQL unreachable at postgresql://someone:***@")
