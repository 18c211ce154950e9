"""`provision worker --max-tasks-per-child` and `--max-memory-per-child` reach Celery: a
pool process is replaced between requests, and every request still gets its outcome."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest

from broker_config import declare, region_queue
from contracts import Target
from producers.processes.commands import worker_argv
from producers.processes.supervisor import Child
from producers.records.ledger import Ledger
from tests.isolation import Isolated, wait_until
from tests.workers.delivery.conftest import outcome_of, publish, request

REGION = "dr"


def _children(pid: int) -> set[int]:
    return {child.pid for child in psutil.Process(pid).children()}


@pytest.mark.slow
def test_a_pool_process_is_replaced_after_its_requests(
    tmp_path: Path,
    delivery: Isolated,
    allow_tmp: str,
    ledger: Ledger,
    conn: Any,
    dl_pipeline: dict[str, Child],  # its aggregator records the outcomes
) -> None:
    declare(conn, [REGION])
    argv = worker_argv(
        REGION, allow=allow_tmp, concurrency=1, name="dr-w@%h", max_tasks_per_child=1
    )
    worker = delivery.spawn("dr-worker", argv)
    try:
        delivery.wait_consuming(region_queue(REGION))
        first = wait_until(lambda: _children(worker.proc.pid), 60, "the pool's process")
        for index in range(2):
            root = tmp_path / f"r{index}"
            root.mkdir()
            target = Target(
                id=f"t-{uuid.uuid4().hex[:8]}",
                region=REGION,
                environment="test",
                address=f"local://{root}",
            )
            change = request(target, [{"kind": "file", "path": "/f", "content": str(index)}])
            publish(conn, change)
            assert outcome_of(ledger, change).status == "changed"
            assert (root / "f").read_text() == str(index)
        # One request per process: the process that took the first one has been replaced.
        wait_until(lambda: not (first & _children(worker.proc.pid)), 60, "a new pool process")
    finally:
        worker.stop()


def test_the_recycling_flags_refuse_nonsense_naming_the_flag(delivery: Isolated) -> None:
    for flag, value in (("--max-tasks-per-child", "0"), ("--max-memory-per-child", "12")):
        done = delivery.provision(
            "worker", "--region", REGION, flag, value, "--allow", "local:///x"
        )
        assert done.returncode == 2, done.stderr
        assert flag in done.stderr, done.stderr
