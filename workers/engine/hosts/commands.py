"""Running a command so that it, and everything it started, ends at its timeout.

The command runs under `reaper.py`, a child subreaper, so even a child that started its
own session (`setsid sleep 1000 &`) is found and killed when the command times out or
exits. The reaper says "timeout" on a pipe of its own, which the command cannot forge.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from contextlib import suppress

from workers.engine.hosts.base import CommandResult

_REAPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reaper.py")

#: Extra seconds the reaper gets, past the command's timeout, to kill and reap.
GRACE_S = 10.0


def run_command(
    argv: Sequence[str], *, cwd: str, env: Mapping[str, str], timeout_s: float
) -> CommandResult:
    """Run argv (never through a shell) in `cwd`; kill its whole tree at `timeout_s`."""
    read_end, write_end = os.pipe()
    try:
        process = subprocess.Popen(
            [sys.executable, "-I", "-S", _REAPER, str(write_end), repr(timeout_s), *argv],
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(write_end,),
            start_new_session=True,
        )
    finally:
        os.close(write_end)
    try:
        try:
            stdout, stderr = process.communicate(timeout=timeout_s + GRACE_S)
        except subprocess.TimeoutExpired:  # the reaper itself is stuck: end its group
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
            return CommandResult(tuple(argv), None, "", "")
        timed_out = os.read(read_end, 16) == b"timeout"
    finally:
        os.close(read_end)
    code = None if timed_out else process.returncode
    return CommandResult(
        tuple(argv), code, stdout.decode(errors="replace"), stderr.decode(errors="replace")
    )
