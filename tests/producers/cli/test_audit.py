"""`provision audit` and `provision audit verify` as a user runs them: filters, the JSON
lines, abbreviated change ids, and a chain that names the record edited behind its back.

On a PostgreSQL database of this module's own: one test edits the trail directly, which
must not break the session's shared one.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from producers.store import audit as trail
from tests.databases import drop_database, make_database
from tests.isolation import Isolated, provision

#: Slow (runs `provision` as a subprocess, as a user does), so not in the quick loop.
pytestmark = pytest.mark.slow


@pytest.fixture
def own_url(session_services: Isolated) -> Iterator[str]:
    name = f"provisioning_test_audit_cli_{os.getpid()}_{secrets.token_hex(4)}"
    url = make_database(name)
    yield url
    drop_database(name)


def audit(url: str, *args: str) -> Any:
    return provision("audit", *args, env={"PROVISION_DATABASE_URL": url})


def fill(url: str) -> list[trail.AuditEntry]:
    """Six records: pauses of two changes sharing a prefix, an event, a publish..."""
    with psycopg.connect(url) as conn:
        return [
            trail.append(conn, actor="alice", action="rollout.pause", subject="abc123-one"),
            trail.append(conn, actor="alice", action="rollout.resume", subject="abc123-one"),
            trail.append(conn, actor="bob", action="rollout.pause", subject="abc999-two"),
            trail.append(
                conn,
                actor="release-bot",
                action="event.accepted",
                subject="abc999-two",
                detail={"issuer": "release-bot", "event_id": "abc999-two", "targets": 3},
            ),
            trail.append(conn, actor="bob", action="state.publish", subject="7"),
            trail.append(
                conn,
                actor="bob",
                action="dlq.replay",
                subject="all",
                detail={"count": 1, "ids": ["t-1"], "change_ids": ["abc123-one"]},
            ),
        ]


def lines(done: Any) -> list[dict[str, Any]]:
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_verify_passes_then_names_the_record_edited_in_the_database(own_url: str) -> None:
    made = fill(own_url)
    whole = audit(own_url, "verify")
    assert whole.returncode == 0, whole.stderr
    assert f"{len(made)} record(s) checked" in whole.stdout

    edited = made[2]
    with psycopg.connect(own_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        conn.execute("UPDATE audit_log SET actor = 'mallory' WHERE id = %s", (edited.id,))
        conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
    broken = audit(own_url, "verify")
    assert broken.returncode == 1
    assert f"audit record {edited.id} (" in broken.stdout and "rollout.pause" in broken.stdout
    assert "edited" in broken.stdout and "2 record(s) before it matched" in broken.stdout
    shown = json.loads(audit(own_url, "verify", "--json").stdout)
    assert shown["ok"] is False and shown["broken"]["id"] == edited.id


def test_verify_says_the_chain_is_broken_where_a_record_was_removed(own_url: str) -> None:
    made = fill(own_url)
    with psycopg.connect(own_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        conn.execute("DELETE FROM audit_log WHERE id = %s", (made[1].id,))
        conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
    broken = audit(own_url, "verify")
    assert broken.returncode == 1
    assert f"audit record {made[2].id} (" in broken.stdout and "chain broken" in broken.stdout


def test_json_lines_and_filters(own_url: str) -> None:
    made = fill(own_url)
    every = lines(audit(own_url, "--json"))
    assert [row["id"] for row in every] == [e.id for e in made]
    assert set(every[0]) == {"id", "at", "actor", "action", "subject", "detail", "hash"}
    assert every[-1]["hash"] == made[-1].hash and every[3]["detail"]["targets"] == 3

    by_bob = lines(audit(own_url, "--issuer", "bob", "--json"))
    assert [row["subject"] for row in by_bob] == ["abc999-two", "7", "all"]
    issued = lines(audit(own_url, "--issuer", "release-bot", "--json"))
    assert [row["action"] for row in issued] == ["event.accepted"]
    pauses = lines(audit(own_url, "--action", "rollout.pause", "--limit", "1", "--json"))
    assert [row["subject"] for row in pauses] == ["abc999-two"]  # the latest one

    assert len(lines(audit(own_url, "--since", "15m", "--json"))) == len(made)
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert lines(audit(own_url, "--since", later, "--json")) == []
    bad = audit(own_url, "--since", "yesterday")
    assert bad.returncode == 2 and "--since" in bad.stderr

    table = audit(own_url, "--issuer", "alice")
    assert table.returncode == 0 and "rollout.resume" in table.stdout


def test_change_takes_a_unique_prefix_and_names_the_ids_when_ambiguous(own_url: str) -> None:
    made = fill(own_url)
    one = lines(audit(own_url, "--change", "abc123", "--json"))
    assert [row["id"] for row in one] == [made[0].id, made[1].id, made[5].id]
    two = lines(audit(own_url, "--change", "abc999-two", "--json"))
    assert [row["action"] for row in two] == ["rollout.pause", "event.accepted"]
    ambiguous = audit(own_url, "--change", "abc")
    assert ambiguous.returncode == 2
    assert "abc123-one" in ambiguous.stderr and "abc999-two" in ambiguous.stderr
    assert lines(audit(own_url, "--change", "zzz", "--json")) == []
