"""A change end to end with every process as its own role in all three stores: the controller,
the aggregator and a worker started with nothing but their `DIR/<user>.env` URLs (RabbitMQ,
Redis and PostgreSQL users of their own), and the operator's `provision apply --wait`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from broker_config import CHECKINS_QUEUE, EVENTS_QUEUE, RESULTS_QUEUE, ROLLOUTS_QUEUE, region_queue
from producers.access.environment import role_environment
from producers.processes.commands import aggregator_argv, controller_argv, worker_argv
from producers.processes.supervisor import Child
from tests.isolation import provision
from tests.producers.access.conftest import AccessVhost

#: Slow: starts a controller, an aggregator and a worker, and rolls a change out.
pytestmark = pytest.mark.slow


def test_a_change_runs_end_to_end_with_every_process_as_its_own_role(
    applied: AccessVhost, tmp_path: Path, allow_tmp: str, request: pytest.FixtureRequest
) -> None:
    iso = applied.iso
    # The group's vhost outlives this test: its consumers must not (they would take the
    # messages the next module of the group looks for).
    request.addfinalizer(lambda: [child.stop() for child in children])
    children: list[Child] = []

    def as_role(role: str, instance: str | None = None) -> dict[str, str]:
        env = role_environment(applied.out, applied.user(role, instance))
        assert env["PROVISION_BROKER_URL"] != iso.broker_url
        return env

    worker_env, aggregator_env, controller_env = (
        as_role("worker", "eu"), as_role("aggregator"), as_role("controller")
    )  # fmt: skip
    assert "PROVISION_DATABASE_URL" not in worker_env and "PROVISION_REDIS_URL" in worker_env
    # Nothing of the group's own (guest, default user, owner) is left to fall back on.
    worker_env["PROVISION_DATABASE_URL"] = "postgresql://nobody@127.0.0.1:1/none"
    aggregator_env["PROVISION_REDIS_URL"] = "redis://nobody:nothing@127.0.0.1:1/5"
    children += [
        iso.spawn("worker-eu", worker_argv("eu", allow=allow_tmp, concurrency=1), worker_env),
        iso.spawn("aggregator", aggregator_argv(), aggregator_env),
        iso.spawn("controller", controller_argv(), controller_env),
    ]
    iso.wait_consuming(
        region_queue("eu"), RESULTS_QUEUE, EVENTS_QUEUE, ROLLOUTS_QUEUE, CHECKINS_QUEUE
    )

    root = tmp_path / "role-web-1"
    root.mkdir()
    target = {
        "id": "role-web-1",
        "region": "eu",
        "environment": "test",
        "address": f"local://{root}",
    }
    change = tmp_path / "change.yaml"
    change.write_text(
        yaml.safe_dump(
            {
                "targets": [target],
                "selector": {},
                "resources": [{"kind": "file", "path": "/etc/role.conf", "content": "as roles\n"}],
            }
        )
    )
    operator = {**iso.env, **as_role("operator")}
    done = provision(
        "apply", str(change), "--wait", "--json", "--timeout", "90", env=operator, timeout_s=150
    )
    logs = "\n".join(child.tail(30) for child in children)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{logs}"
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["counts"]["changed"] == 1 and result["counts"]["pending"] == 0, result
    assert (root / "etc/role.conf").read_text() == "as roles\n"
    status = provision("status", result["change_id"], "--json", env=operator)
    assert status.returncode == 0, status.stderr
    rows = json.loads(status.stdout.strip().splitlines()[-1])["targets"]
    assert [row["status"] for row in rows] == ["changed"]
