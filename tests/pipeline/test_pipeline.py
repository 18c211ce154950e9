"""The whole path on the real services: CLI → topic → regional worker → aggregator →
PostgreSQL."""

from __future__ import annotations

import json
import stat
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pika

from broker_config import CHANGES_EXCHANGE, declare, region_queue
from contracts.dead import REASON
from producers.messaging.publisher import Publisher, task_message
from producers.processes.supervisor import Child
from producers.records.ledger import Ledger
from producers.store import outcomes
from producers.store.database import Database
from tests.isolation import (
    Isolated,
    controller_key,
    publish_task,
    request_for,
    signed_request,
    wait_until,
)
from tests.isolation import provision as run_provision
from tests.pipeline.conftest import change_file, local_target

RESOURCES = [
    {"kind": "directory", "path": "/etc/app", "mode": "0755"},
    {"kind": "file", "path": "/etc/app/app.conf", "content": "port = 8080\n", "mode": "0640"},
]


def provision(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return run_provision(*args, env=env, timeout_s=120)


def last_json(stdout: str) -> dict[str, Any]:
    return json.loads(stdout.strip().splitlines()[-1])


def stored_outcome(database: Database, change_id: str, target: str) -> outcomes.Stored | None:
    """The target's current outcome in the change, as the aggregator stored it."""
    with database.connection() as conn:
        return outcomes.latest_in_change(conn, change_id).get(target)


def test_a_change_converges_local_targets_and_a_rerun_is_converged(
    tmp_path: Path, services: dict[str, str], pipeline: dict[str, Child]
) -> None:
    targets = [local_target(tmp_path, "web-1", "eu"), local_target(tmp_path, "web-2", "us")]
    path = change_file(tmp_path, targets, RESOURCES, {"environment": "test"})

    first = provision("apply", str(path), "--wait", "--json", "--timeout", "60", env=services)
    assert first.returncode == 0, first.stderr
    result = last_json(first.stdout)
    assert result["counts"]["changed"] == 2 and result["counts"]["pending"] == 0
    conf = tmp_path / "web-1" / "etc/app/app.conf"
    assert conf.read_text() == "port = 8080\n"
    assert stat.S_IMODE(conf.stat().st_mode) == 0o640

    status = provision("status", result["change_id"], "--json", env=services)
    assert status.returncode == 0, status.stderr
    rows = {row["target"]: row for row in last_json(status.stdout)["targets"]}
    assert rows["web-1"]["worker"].startswith("eu-w@")
    assert rows["web-2"]["worker"].startswith("us-w@")
    assert {c["path"] for c in rows["web-1"]["changes"]} == {"/etc/app", "/etc/app/app.conf"}
    trace_ids = {row["trace_id"] for row in rows.values()}
    assert len(trace_ids) == 1 and len(trace_ids.pop() or "") == 32, "one trace per change"
    assert all(row["attempts"] == 1 and row["error"] is None for row in rows.values())

    second = provision("apply", str(path), "--wait", "--json", "--timeout", "60", env=services)
    assert second.returncode == 0, second.stderr
    again = last_json(second.stdout)
    assert again["counts"]["converged"] == 2 and again["counts"]["changed"] == 0
    assert all(row["changes"] == [] for row in again["targets"])


def test_a_malformed_request_is_dead_lettered_with_its_reason_and_reported_rejected(
    amqp: Any, database: Database, session_services: Isolated, pipeline: dict[str, Child]
) -> None:
    request = request_for("bad-1", address="local:///tmp/x")
    headers, body = task_message(request)
    args, kwargs, embed = json.loads(body)
    kwargs["request"]["desired"] = {"resources": [{"kind": "teapot", "path": "/x"}]}
    kwargs["request"] = signed_request(kwargs["request"])  # refused for its desired state
    publish_task(amqp, request.target.routing_key, headers, json.dumps([args, kwargs, embed]))
    dead = wait_until(
        lambda: session_services.dead_letter_with(headers["id"]), 30, "the dead letter"
    )
    properties, dead_body = dead
    assert "invalid change request" in properties.headers[REASON]
    assert "teapot" in properties.headers[REASON] or "kind" in properties.headers[REASON]
    assert json.loads(dead_body)[1]["request"]["change_id"] == request.change_id
    outcome = wait_until(
        lambda: stored_outcome(database, request.change_id, "bad-1"), 30, "the rejected outcome"
    )
    assert outcome.event.status == "rejected"


def test_an_outcome_carries_its_request_sequence_into_the_system_of_record(
    tmp_path: Path, amqp: Any, database: Database, pipeline: dict[str, Child]
) -> None:
    request = request_for("seq-1", address=f"local://{tmp_path}", sequence=424242)
    Publisher(amqp, controller_key()).publish(request)
    stored = wait_until(
        lambda: stored_outcome(database, request.change_id, "seq-1"), 30, "the outcome"
    )
    assert stored.event.status == "converged"
    assert stored.sequence == stored.event.sequence == 424242


def test_a_message_celery_cannot_read_ends_in_the_dead_letters(
    amqp: Any, session_services: Isolated, pipeline: dict[str, Child]
) -> None:
    marker = str(uuid.uuid4())
    channel = amqp.channel()
    channel.confirm_delivery()
    channel.basic_publish(
        CHANGES_EXCHANGE,
        "eu.test.garbage",
        b"\x00 not a task",
        pika.BasicProperties(correlation_id=marker, delivery_mode=2),
        mandatory=True,
    )
    properties, body = wait_until(
        lambda: session_services.dead_letter_with(marker), 30, "the dead letter"
    )
    assert body == b"\x00 not a task"
    headers = properties.headers or {}
    reason = headers.get(REASON) or headers["x-death"][0]["reason"]
    assert reason, "a dead letter always says why"


def test_a_worker_of_region_eu_never_receives_a_change_for_another_region(
    tmp_path: Path,
    amqp: Any,
    database: Database,
    services: dict[str, str],
    pipeline: dict[str, Child],
) -> None:
    declare(amqp, ["xx"])
    amqp.channel().queue_purge(region_queue("xx"))
    targets = [local_target(tmp_path, "eu-1", "eu"), local_target(tmp_path, "xx-1", "xx")]
    path = change_file(tmp_path, targets, RESOURCES)
    done = provision("apply", str(path), "--json", env=services)
    assert done.returncode == 0, done.stderr
    change_id = last_json(done.stdout)["change_id"]
    ledger = Ledger(database)
    wait_until(lambda: ledger.status(change_id).outcomes.get("eu-1"), 30, "the eu outcome")
    assert ledger.status(change_id).outcomes["eu-1"].status == "changed"
    assert "xx-1" not in ledger.status(change_id).outcomes, "nobody consumes region xx"
    assert amqp.channel().queue_declare(region_queue("xx"), passive=True).method.message_count == 1
    assert not (tmp_path / "xx-1" / "etc").exists()


def test_a_wait_that_runs_out_exits_with_the_timeout_code(
    tmp_path: Path, amqp: Any, services: dict[str, str], pipeline: dict[str, Child]
) -> None:
    """Needs the running pipeline (its status has counts only once the change is booked)."""
    declare(amqp, ["yy"])
    path = change_file(tmp_path, [local_target(tmp_path, "yy-1", "yy")], RESOURCES)
    done = provision("apply", str(path), "--wait", "--json", "--timeout", "1", env=services)
    assert done.returncode == 4, done.stderr
    result = last_json(done.stdout)
    assert result["finished"] is False and result["counts"]["pending"] == 1


def test_a_dry_run_reports_drift_with_a_diff_and_changes_nothing(
    tmp_path: Path, services: dict[str, str], pipeline: dict[str, Child]
) -> None:
    target = local_target(tmp_path, "dry-1", "eu")
    conf = tmp_path / "dry-1" / "etc/app/app.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text("port = 80\n")
    path = change_file(tmp_path, [target], RESOURCES)
    done = provision(
        "apply", str(path), "--dry-run", "--wait", "--json", "--timeout", "60", env=services
    )
    assert done.returncode == 0, done.stderr
    row = last_json(done.stdout)["targets"][0]
    assert row["status"] == "drifted"
    change = next(c for c in row["changes"] if c["path"] == "/etc/app/app.conf")
    assert "-port = 80" in change["diff"] and "+port = 8080" in change["diff"]
    assert conf.read_text() == "port = 80\n", "a dry run changes nothing"
