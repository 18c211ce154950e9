"""The processes a benchmark starts: workers, the aggregator, baselines. None outlives the run.

Each child leads its own process group (a Celery worker's pool children included), asks
Linux to be signalled if we die, and is stopped with SIGTERM, then SIGKILL, on every exit
path: normal end, exception and Ctrl-C.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil

from bench.errors import BenchError

ROOT = Path(__file__).resolve().parent.parent
#: Seconds a child gets after SIGTERM before its whole group is killed.
STOP_GRACE_S = 10.0


def _die_with_parent() -> None:
    """In the child: be sent SIGTERM when the harness dies, so no worker is orphaned."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Child:
    """One started process and its log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        with open(log, "ab") as handle:
            self.proc = subprocess.Popen(
                argv,
                stdout=handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **env},
                cwd=ROOT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, lines: int = 15) -> str:
        """The end of the child's log, for an error message."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def rss_mb(self) -> float:
        """Resident memory of the process and all its descendants, in MiB (RSS, summed)."""
        root = psutil.Process(self.proc.pid)
        total = 0
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                total += proc.memory_info().rss
        return total / 2**20

    def pss_mb(self) -> float | None:
        """Proportional memory of the tree (shared pages split between sharers), in MiB."""
        root = psutil.Process(self.proc.pid)
        total = 0
        try:
            for proc in [root, *root.children(recursive=True)]:
                total += proc.memory_full_info().pss
        except (psutil.AccessDenied, AttributeError, psutil.NoSuchProcess):
            return None
        return total / 2**20

    def stop(self) -> None:
        """SIGTERM the group, wait, then SIGKILL whatever is left of it."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # pool children left in the group


class Children:
    """Starts children into one log directory and stops every one of them on exit."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[Child] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> Child:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        child = Child(name, [sys.executable, *argv], env, self.log_dir / f"{name}.log")
        self.started.append(child)
        return child

    def check(self) -> None:
        """Raise BenchError, with its log, for a child that has died."""
        for child in self.started:
            if not child.alive():
                raise BenchError(
                    f"{child.name} exited with {child.proc.returncode}:\n{child.tail()}"
                )

    def stop(self) -> None:
        for child in reversed(self.started):
            child.stop()
        self.started.clear()

    def __enter__(self) -> Children:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def wait_for_consumers(
    children: Children, broker_url: str, queues: list[str], timeout_s: float = 60.0
) -> None:
    """Wait until every queue has a consumer: that is when a worker is ready for work."""
    import pika
    import pika.exceptions

    deadline = time.monotonic() + timeout_s
    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    try:
        pending = list(queues)
        while pending:
            children.check()
            channel: Any = connection.channel()
            try:
                ok = channel.queue_declare(pending[0], passive=True)
                if ok.method.consumer_count > 0:
                    pending.pop(0)
                    continue
            except pika.exceptions.ChannelClosedByBroker:
                channel = None  # not declared yet
            finally:
                if channel is not None and channel.is_open:
                    channel.close()
            if time.monotonic() > deadline:
                raise BenchError(f"no consumer on {pending[0]} after {timeout_s:g}s")
            time.sleep(0.1)
    finally:
        connection.close()
