"""A running pipeline for the tests: a worker per region, the aggregator, the controller."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import Process, wait_until

REGIONS = ("eu", "us")


@pytest.fixture(scope="session")
def pipeline(services: dict[str, str], spawn: Callable[..., Process]) -> dict[str, Process]:
    """Workers for `eu` and `us`, the aggregator and the controller, started once and ready."""
    procs = {
        region: spawn(
            f"worker-{region}",
            [
                "-m",
                "workers",
                "worker",
                "--region",
                region,
                "--concurrency",
                "2",
                "--name",
                f"{region}-w@%h",
            ],
            services,
        )
        for region in REGIONS
    }
    procs["aggregator"] = spawn("aggregator", ["-m", "producers", "aggregator"], services)
    procs["controller"] = spawn("controller", ["-m", "producers", "controller"], services)
    for region in REGIONS:
        wait_until(
            lambda r=region: "ready." in procs[r].text() or procs[r].proc.poll(),
            60,
            f"worker {region} to be ready",
        )
        assert procs[region].proc.poll() is None, procs[region].text()
    wait_until(
        lambda: "consuming" in procs["aggregator"].text() or procs["aggregator"].proc.poll(),
        30,
        "the aggregator",
    )
    assert procs["aggregator"].proc.poll() is None, procs["aggregator"].text()
    wait_until(
        lambda: "consuming" in procs["controller"].text() or procs["controller"].proc.poll(),
        30,
        "the controller",
    )
    assert procs["controller"].proc.poll() is None, procs["controller"].text()
    return procs


def change_file(
    tmp_path: Path,
    targets: list[dict[str, Any]],
    resources: list[dict[str, Any]],
    selector: dict[str, Any] | None = None,
) -> Path:
    path = tmp_path / f"change-{uuid.uuid4().hex[:8]}.yaml"
    path.write_text(
        yaml.safe_dump({"targets": targets, "selector": selector or {}, "resources": resources})
    )
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
