"""The one supervisor of our child processes: the demo, the bench and the tests all use it.

Each child leads its own process group (a Celery worker's pool children included), asks Linux
to be signalled if we die, and is stopped with SIGTERM, then SIGKILL, on every exit path:
normal end, exception and Ctrl-C. Nothing we start outlives us.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

#: How long a child gets to finish its work after SIGTERM before its group is killed.
STOP_GRACE_S = 15.0


class ChildDied(RuntimeError):
    """A child exited that should still run; the message names it and ends with its log."""


def _die_with_parent() -> None:
    """In the child: ask Linux to SIGTERM us when the parent dies, so nothing is orphaned."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def child_environment(env: Mapping[str, str | None]) -> dict[str, str]:
    """Ours with `env` over it; a name given as None is not inherited (a login the child
    must not have, e.g. the demo's own store URLs)."""
    merged: dict[str, str | None] = {**os.environ, **env}
    return {name: value for name, value in merged.items() if value is not None}


def port_open(port: int, timeout_s: float = 2.0, host: str = "127.0.0.1") -> bool:
    """True if something accepts TCP connections on `host:port` (a service is up)."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


class Child:
    """One started process and its log (appended to: a restart keeps the earlier runs)."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: Mapping[str, str | None],
        log: Path,
        cwd: Path | None,
    ) -> None:
        self.name = name
        self.log = log
        #: Where this run's output starts in the log, so text() shows this run only.
        self.offset = log.stat().st_size if log.exists() else 0
        with open(log, "ab") as handle:
            self.proc = subprocess.Popen(
                argv,
                stdout=handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=child_environment(env),
                cwd=cwd,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def text(self) -> str:
        """What this run of the child has written so far."""
        try:
            with open(self.log, "rb") as handle:
                handle.seek(self.offset)
                return handle.read().decode(errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 15) -> str:
        """The end of the child's output, for an error message."""
        return "\n".join(self.text().splitlines()[-lines:])

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """SIGTERM the group, wait up to `grace_s`, then SIGKILL whatever is left of it."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # pool children left in the group


class Supervisor:
    """Starts children into one log directory; stops every one (newest first) on exit."""

    def __init__(self, log_dir: Path, *, cwd: Path | None = None) -> None:
        self.log_dir = log_dir
        self.cwd = cwd
        self.children: dict[str, Child] = {}

    def start(
        self, name: str, argv: list[str], env: Mapping[str, str | None] | None = None
    ) -> Child:
        """Run `python *argv` as `name` with `env` over our environment (None: unset); a
        name already in use is replaced (a restart)."""
        old = self.children.pop(name, None)
        if old is not None:
            old.stop()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        child = Child(
            name, [sys.executable, *argv], env or {}, self.log_dir / f"{name}.log", self.cwd
        )
        self.children[name] = child
        return child

    def failed(self) -> list[str]:
        """Children that have exited already (they should not have), with their exit codes."""
        return [
            f"{child.name} (exit {child.proc.returncode})"
            for child in self.children.values()
            if not child.alive()
        ]

    def check(self) -> None:
        """Raise ChildDied, with its log, for a child that has exited."""
        for child in self.children.values():
            if not child.alive():
                raise ChildDied(
                    f"{child.name} exited with {child.proc.returncode}:\n{child.tail()}"
                )

    def stop(self) -> None:
        for child in reversed(list(self.children.values())):
            child.stop()
        self.children.clear()

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def wait_consuming(
    supervisor: Supervisor, broker_url: str, queues: list[str], timeout_s: float = 60.0
) -> None:
    """Wait until every queue has a consumer: that is when a process of ours is ready.

    Readiness is asked of the broker, not read from logs, so no log level can break it.
    Raises ChildDied if a child exits meanwhile, TimeoutError after `timeout_s`.
    """
    import pika
    import pika.exceptions

    deadline = time.monotonic() + timeout_s
    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    try:
        pending = list(queues)
        while pending:
            supervisor.check()
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
                raise TimeoutError(f"no consumer on {pending[0]} after {timeout_s:g}s")
            time.sleep(0.1)
    finally:
        connection.close()
