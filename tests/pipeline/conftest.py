"""A running pipeline for the tests: a worker per region, the aggregator, the controller."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from broker_config import CHECKINS_QUEUE, EVENTS_QUEUE, RESULTS_QUEUE, ROLLOUTS_QUEUE, region_queue
from producers.processes.commands import aggregator_argv, controller_argv, worker_argv
from producers.processes.supervisor import Child
from tests.isolation import Isolated

REGIONS = ("eu", "us")


@pytest.fixture(scope="session")
def pipeline(session_services: Isolated, allow_tmp: str) -> dict[str, Child]:
    """Workers for `eu` and `us` (allowed the tests' roots), the aggregator and the
    controller, started once and ready."""
    iso = session_services
    procs = {
        region: iso.spawn(
            f"worker-{region}", worker_argv(region, allow=allow_tmp, name=f"{region}-w@%h")
        )
        for region in REGIONS
    }
    procs["aggregator"] = iso.spawn("aggregator", aggregator_argv())
    procs["controller"] = iso.spawn("controller", controller_argv())
    iso.wait_consuming(
        *(region_queue(r) for r in REGIONS),
        RESULTS_QUEUE,
        EVENTS_QUEUE,
        ROLLOUTS_QUEUE,
        CHECKINS_QUEUE,
    )
    return procs


def change_file(
    tmp_path: Path,
    targets: list[dict[str, Any]],
    resources: list[dict[str, Any]],
    selector: dict[str, Any] | None = None,
    rollout: dict[str, Any] | None = None,
) -> Path:
    """A change file for `provision apply`; `rollout` is its policy (waves, pacing)."""
    path = tmp_path / f"change-{uuid.uuid4().hex[:8]}.yaml"
    change = {"targets": targets, "selector": selector or {}, "resources": resources}
    if rollout is not None:
        change["rollout"] = rollout
    path.write_text(yaml.safe_dump(change))
    return path


def local_target(
    tmp_path: Path, target_id: str, region: str = "eu", environment: str = "test"
) -> dict[str, Any]:
    root = tmp_path / target_id
    root.mkdir(parents=True, exist_ok=True)
    return {
        "id": target_id,
        "region": region,
        "environment": environment,
        "labels": {"role": "web"},
        "address": f"local://{root}",
    }
