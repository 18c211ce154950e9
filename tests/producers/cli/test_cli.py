"""The CLI's answers to bad input and to missing services: clear, early, with exit codes."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from broker_config import region_queue
from tests.isolation import provision, redis_url_of

#: Slow (runs `provision` as a subprocess, as a user does), so not in the quick loop, `pytest -m
#: "not slow"`.
pytestmark = pytest.mark.slow


def write(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


TARGET = {
    "id": "cli-1",
    "region": "clitest",
    "environment": "test",
    "address": "local:///tmp/cli-1",
}
FILE = {"kind": "file", "path": "/etc/x", "content": "x"}


def queue_depth(amqp: Any, region: str) -> int:
    return amqp.channel().queue_declare(region_queue(region), passive=True).method.message_count


def test_a_spec_that_breaks_the_contract_names_file_field_and_reason(
    tmp_path: Path, services: dict[str, str], amqp: Any
) -> None:
    from broker_config import declare

    declare(amqp, ["clitest"])
    before = queue_depth(amqp, "clitest")
    bad = write(
        tmp_path / "bad.yaml",
        {
            "targets": [TARGET],
            "resources": [FILE, {"kind": "file", "path": "/etc/y", "mode": "rwx"}],
        },
    )
    done = provision("apply", str(bad), env=services)
    assert done.returncode == 2
    assert str(bad) in done.stderr and "resources.1" in done.stderr and "mode" in done.stderr
    assert "Traceback" not in done.stderr
    assert queue_depth(amqp, "clitest") == before, "nothing is published"


def test_invalid_yaml_and_json_are_refused_with_the_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"targets": [}')
    done = provision("apply", str(broken))
    assert done.returncode == 2 and "broken.json" in done.stderr and "line 1" in done.stderr


def test_a_selector_matching_nothing_is_refused_before_publishing(
    tmp_path: Path, services: dict[str, str]
) -> None:
    path = write(
        tmp_path / "c.yaml",
        {"targets": [TARGET], "selector": {"environment": "prod"}, "resources": [FILE]},
    )
    done = provision("apply", str(path), env=services)
    assert done.returncode == 2
    assert "matches no target" in done.stderr and "environment=prod" in done.stderr


def _booked(database: Any) -> int:
    """How many changes the ledger (PostgreSQL) has booked."""
    with database.connection() as conn:
        row = conn.execute("SELECT count(*) FROM changes").fetchone()
    return int(row[0]) if row else 0


def test_an_unknown_region_is_refused_before_publishing(
    tmp_path: Path, services: dict[str, str], database: Any
) -> None:
    target = {**TARGET, "region": "atlantis"}
    path = write(tmp_path / "c.yaml", {"targets": [target], "resources": [FILE]})
    changes_before = _booked(database)
    done = provision("apply", str(path), env=services)
    assert done.returncode == 2
    assert "unknown region 'atlantis'" in done.stderr
    assert _booked(database) == changes_before, "nothing was booked"


def test_an_unreachable_broker_is_one_line_naming_the_url_within_seconds(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", {"targets": [TARGET], "resources": [FILE]})
    env = {
        "PROVISION_BROKER_URL": "amqp://guest:secret@127.0.0.1:1/%2F",
        "PROVISION_REDIS_URL": redis_url_of("session"),
    }
    started = time.monotonic()
    done = provision("apply", str(path), env=env)
    assert time.monotonic() - started < 15
    assert done.returncode == 3
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "RabbitMQ unreachable at amqp://guest:***@127.0.0.1:1/" in lines[0]
    assert "secret" not in done.stderr


#: A PostgreSQL nobody listens on, with a password that must never show.
NO_DATABASE = {"PROVISION_DATABASE_URL": "postgresql://u:secret@127.0.0.1:1/x"}


def test_an_unreachable_database_is_one_line_naming_the_url(tmp_path: Path) -> None:
    done = provision("status", "some-change", env=NO_DATABASE)
    assert done.returncode == 3
    line = "error: PostgreSQL unreachable at postgresql://u:***@127.0.0.1:1/x"
    assert done.stderr.strip().startswith(line)
    assert len(done.stderr.strip().splitlines()) == 1 and "secret" not in done.stderr


def test_debug_shows_the_traceback() -> None:
    done = provision("--debug", "status", "x", env=NO_DATABASE)
    assert done.returncode != 0 and "Traceback" in done.stderr


def test_schema_prints_each_contract_and_lists_names() -> None:
    names = provision("schema").stdout.split()
    assert {"change-request", "outcome-event", "target"} <= set(names)
    schema = json.loads(provision("schema", "outcome-event").stdout)
    assert "status" in schema["properties"]
    unknown = provision("schema", "nope")
    assert unknown.returncode == 2 and "unknown schema 'nope'" in unknown.stderr


def test_help_lists_control_and_data_plane_commands() -> None:
    out = provision("--help").stdout
    for command in ("apply", "status", "demo", "worker", "converge", "aggregator", "schema"):
        assert command in out
    worker_help = provision("worker", "--help")
    assert worker_help.returncode == 0 and "--region" in worker_help.stdout
