"""Running `provision` on hostile files and arguments, and judging how it ended.

- apply / state publish: exit 2 with a message = refused; exit 0 = accepted; a traceback,
  a signal, no answer within the time limit or any other exit = crashed.
- converge: as above, and exit 1 with an `error:` line and no traceback is refused too
  (the engine refused a resource while converging: a render limit, a confinement check).
- other commands: exit 1 or 2 with a one-line message and no traceback = refused; exit 3
  or 4 (it ran, then found no service or timed out) = accepted.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from bench.hostile.model import EntryPoint, Input, Verdict
from bench.processes import ROOT

#: Address space of one command: a bomb ends in MemoryError, not in the machine's OOM killer.
MEMORY_LIMIT = 3 * 2**30


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def materialise(item: Input, directory: Path) -> None:
    """Write the input's files; `dir`, `fifo` and `symlink:<dest>` make special ones."""
    for rel, content in item.files.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if content == "dir":
            path.mkdir()
        elif content == "fifo":
            os.mkfifo(path)
        elif isinstance(content, str) and content.startswith("symlink:"):
            path.symlink_to(content.removeprefix("symlink:").replace("{dir}", str(directory)))
        else:
            path.write_bytes(content.encode() if isinstance(content, str) else content)


class CommandJudge:
    """Runs one command per input in a scratch directory; keeps the largest RSS seen."""

    def __init__(self, env: dict[str, str], scratch: Path, timeout_s: float) -> None:
        # `provision converge` keeps witnesses (workers/witness.py): in the scratch, not ~/.cache.
        self.env = {**os.environ, "PROVISION_CACHE_DIR": str(scratch / "cache"), **env}
        self.scratch = scratch
        self.timeout_s = timeout_s
        self.max_rss_mb = 0.0

    def run(self, item: Input) -> tuple[Verdict, str]:
        directory = Path(tempfile.mkdtemp(prefix="in-", dir=self.scratch))
        try:
            materialise(item, directory)
            argv = [arg.replace("{dir}", str(directory)) for arg in item.argv]
            code, err = self._execute(argv, directory)
            verdict = judge(item, code, err, directory)
            if item.check.startswith("setsid:"):
                verdict = _survivors(item.check.removeprefix("setsid:")) or verdict
            return verdict
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    def _execute(self, argv: list[str], directory: Path) -> tuple[int | None, str]:
        out, err = directory / ".stdout", directory / ".stderr"
        with open(out, "wb") as stdout, open(err, "wb") as stderr:
            proc = subprocess.Popen(
                [sys.executable, "-m", "producers", *argv],
                stdout=stdout,
                stderr=stderr,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=ROOT,
                start_new_session=True,
                preexec_fn=_limit,
            )
            deadline = time.monotonic() + self.timeout_s
            while proc.poll() is None and time.monotonic() < deadline:
                with contextlib.suppress(psutil.Error):
                    rss = psutil.Process(proc.pid).memory_info().rss / 2**20
                    self.max_rss_mb = max(self.max_rss_mb, rss)
                time.sleep(0.02)
            code = proc.poll()
            if code is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        return code, err.read_text(errors="replace")


def judge(item: Input, code: int | None, err: str, directory: Path) -> tuple[Verdict, str]:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    last = lines[-1][:160] if lines else ""
    if code is None:
        return Verdict.CRASHED, "hung: killed at the time limit"
    if "Traceback (most recent call last)" in err:
        return Verdict.CRASHED, f"traceback, exit {code}: {last}"
    if code == 0:
        return Verdict.ACCEPTED, "exit 0"
    if code < 0:
        return Verdict.CRASHED, f"killed by signal {-code}"
    if code == 2 and lines:
        named = str(directory) in err or any(Path(rel).name in err for rel in item.files)
        suffix = "" if named or item.entry == EntryPoint.CLI else " (the message names no file)"
        return Verdict.REFUSED, f"exit 2: {last}{suffix}"
    if code == 1 and lines and item.entry in (EntryPoint.CONVERGE, EntryPoint.CLI):
        return Verdict.REFUSED, f"exit 1: {last}"
    if code in (3, 4) and item.entry == EntryPoint.CLI:  # it ran: unreachable or timed out
        return Verdict.ACCEPTED, f"exit {code}, the argument was taken: {last}"
    return Verdict.CRASHED, f"exit {code}: {last or '(no message)'}"


def _survivors(pattern: str) -> tuple[Verdict, str] | None:
    """A process left running by a command that timed out: kill it, and say so."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if pattern in " ".join(proc.info["cmdline"] or []):
            found.append(proc.pid)
            with contextlib.suppress(psutil.Error):
                proc.kill()
    if found:
        return Verdict.ACCEPTED, f"a child in its own session outlived the timeout (pid {found[0]})"
    return None
