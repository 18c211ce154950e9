"""Whether a service a test needs is there: under CI=true a missing one fails the test,
elsewhere it skips with the reason (a developer without RabbitMQ still runs the rest)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from producers.processes.supervisor import port_open

CI = os.environ.get("CI") == "true"


def need(ok: bool, why: str) -> None:
    """Fail under CI, skip elsewhere, when a service the test needs is missing."""
    if ok:
        return
    if CI:
        pytest.fail(f"service missing under CI: {why}")
    pytest.skip(why)


def reachable(port: int) -> bool:
    return port_open(port, timeout_s=2)


@contextlib.contextmanager
def flock_held(path: Path) -> Iterator[subprocess.Popen]:
    """Another process holds an exclusive flock on `path` until the block ends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    script = (
        "import fcntl, os, sys\n"
        "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        "sys.stdin.read()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        yield holder
    finally:
        if holder.stdin is not None:
            holder.stdin.close()  # the holder exits, and the kernel releases its lock
        holder.wait(timeout=30)
