"""A worker's metrics endpoint as a process: old samples are gone at start, and a second
worker on the same port stops without touching the first one's samples."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from broker_config import region_queue
from contracts.metrics import OUTCOMES
from producers.processes.commands import worker_argv
from tests.isolation import ROOT, Isolated, wait_until
from tests.metrics_scrape import free_port, scrape_or_none
from workers.delivery.metrics import MULTIPROC_ENV

pytestmark = pytest.mark.slow

REGION = "dm"

STALE = """
from prometheus_client import Counter
Counter("provision_outcomes_total", "old", ["status", "region"]).labels("changed", "dm").inc(1000)
"""


def _stale_samples(directory: Path) -> set[str]:
    """Write an earlier run's samples (1000 changed outcomes) into `directory`."""
    directory.mkdir(mode=0o700)
    env = {MULTIPROC_ENV: str(directory), "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", STALE], check=True, env=env, cwd=ROOT, timeout=60)
    return {p.name for p in directory.glob("*.db")}


def test_a_worker_empties_its_directory_at_start_and_keeps_it_its_own(
    tmp_path: Path, delivery: Isolated, allow_tmp: str
) -> None:
    directory = tmp_path / "multiproc"
    stale = _stale_samples(directory)
    assert stale, "the earlier run left samples"
    port = free_port()
    argv = worker_argv(REGION, allow=allow_tmp, name="dm-m@%h", metrics_port=port)
    child = delivery.spawn("dm-metrics-worker", argv, {MULTIPROC_ENV: str(directory)})
    try:
        delivery.wait_consuming(region_queue(REGION))
        scrape = wait_until(lambda: scrape_or_none(port), 30, "the worker's endpoint")
        assert scrape.value(OUTCOMES.name, status="changed", region=REGION) == 0
        assert not stale & {p.name for p in directory.glob("*.db")}, "old samples deleted"
        ours = {p.name for p in directory.glob("*.db")}
        assert ours, "the parent wrote samples of its own"

        second = subprocess.run(
            [sys.executable, *worker_argv(REGION, allow=allow_tmp, metrics_port=port)],
            capture_output=True,
            text=True,
            env={**os.environ, **delivery.env, MULTIPROC_ENV: str(directory)},
            cwd=ROOT,
            timeout=60,
        )
        assert second.returncode == 2, second.stderr
        assert "--metrics-port" in second.stderr and str(port) in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1, second.stderr
        assert ours <= {p.name for p in directory.glob("*.db")}, "the first's samples stay"
        assert scrape_or_none(port) is not None
    finally:  # this worker only: the package's own worker and aggregator run on
        child.stop()
        delivery.supervisor.children.pop("dm-metrics-worker", None)
