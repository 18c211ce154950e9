"""The bench's side of our one supervisor (producers.processes): its working directory, the
memory of a child's process tree, and readiness failures as BenchError.

Starting and stopping children is `producers.processes.supervisor.Supervisor`'s job; psutil is
a dev dependency, so measuring memory stays here.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import psutil

from bench.errors import BenchError
from producers.processes.supervisor import Child, ChildDied, Supervisor, wait_consuming

ROOT = Path(__file__).resolve().parent.parent


def supervisor(log_dir: Path) -> Supervisor:
    """A supervisor whose children run from the repository root."""
    return Supervisor(log_dir, cwd=ROOT)


def rss_mb(child: Child) -> float:
    """Resident memory of the process and all its descendants, in MiB (RSS, summed)."""
    root = psutil.Process(child.proc.pid)
    total = 0
    for proc in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += proc.memory_info().rss
    return total / 2**20


def parent_rss_mb(child: Child) -> float:
    """Resident memory of the process alone, in MiB: a Celery worker's main process, whose
    growth its pool's recycling would never cure."""
    return psutil.Process(child.proc.pid).memory_info().rss / 2**20


def pss_mb(child: Child) -> float | None:
    """Proportional memory of the tree (shared pages split between sharers), in MiB."""
    root = psutil.Process(child.proc.pid)
    total = 0
    try:
        for proc in [root, *root.children(recursive=True)]:
            total += proc.memory_full_info().pss
    except (psutil.AccessDenied, AttributeError, psutil.NoSuchProcess):
        return None
    return total / 2**20


def check(children: Supervisor) -> None:
    """Raise BenchError, with its log, for a child that has died."""
    try:
        children.check()
    except ChildDied as exc:
        raise BenchError(str(exc)) from exc


def wait_for_consumers(
    children: Supervisor, broker_url: str, queues: list[str], timeout_s: float = 60.0
) -> None:
    """Wait until every queue has a consumer; a dead child or the timeout is a BenchError."""
    try:
        wait_consuming(children, broker_url, queues, timeout_s)
    except (ChildDied, TimeoutError) as exc:
        raise BenchError(str(exc)) from exc
