"""Test support: reaching the real services, bounded waits, and child processes of ours.

Under CI=true a missing service fails the test; elsewhere it skips with the reason.
Tests never touch the default vhost or Redis database 0, so a user's data is left alone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: One vhost per test session, so runs side by side never share queues.
VHOST = f"provision-test-{os.getpid()}"
REDIS_DB = 15
CI = os.environ.get("CI") == "true"


def need(ok: bool, why: str) -> None:
    """Fail under CI, skip elsewhere, when a service the test needs is missing."""
    if ok:
        return
    if CI:
        pytest.fail(f"service missing under CI: {why}")
    pytest.skip(why)


def reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def wait_until(predicate: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """Poll `predicate` until it returns something truthy; fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.05)


def drop_vhost(name: str) -> None:
    """Delete a vhost of the tests' (and everything in it)."""
    ctl = shutil.which("rabbitmqctl")
    if ctl is not None:
        subprocess.run([ctl, "-q", "delete_vhost", name], capture_output=True, timeout=60)


def make_vhost(name: str) -> str:
    """A fresh, empty vhost that guest may use; returns its broker URL."""
    need(reachable(5672), "RabbitMQ is not reachable on 127.0.0.1:5672")
    ctl = shutil.which("rabbitmqctl")
    need(ctl is not None, "rabbitmqctl is needed to create the test vhost")
    assert ctl is not None
    subprocess.run([ctl, "-q", "delete_vhost", name], capture_output=True, timeout=60)
    for args in (["add_vhost", name], ["set_permissions", "-p", name, "guest", ".*", ".*", ".*"]):
        done = subprocess.run([ctl, "-q", *args], capture_output=True, text=True, timeout=60)
        need(done.returncode == 0, f"rabbitmqctl {' '.join(args)} failed: {done.stderr.strip()}")
    return f"amqp://guest:guest@127.0.0.1:5672/{quote(name, safe='')}"


class Process:
    """A child process of ours with its log, always stopped at the end of the test."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._file = open(log, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, *argv],
            env={**os.environ, **env},
            stdout=self._file,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        import signal

        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # pool children left in the group
        self._file.close()


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
