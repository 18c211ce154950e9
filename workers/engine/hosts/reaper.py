"""A command's keeper: it runs the command and, when it ends, ends everything it started.

Run as `python -I -S reaper.py STATUS_FD TIMEOUT_S ARGV...` (stdlib only, so it starts
fast). It makes itself a child subreaper (prctl PR_SET_CHILD_SUBREAPER), so every
descendant of the command, including one that called `setsid` and whose parent exited,
stays its descendant. At the timeout, or when the command exits, every remaining
descendant is killed and reaped; "timeout" is written to STATUS_FD when the timeout hit.
It exits with the command's exit status (128 + signal when the command was killed).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys

PR_SET_CHILD_SUBREAPER = 36


def descendants(pid: int) -> list[int]:
    """Every live process below `pid`, from /proc (parents found before children)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def end_all() -> None:
    """Kill every descendant until none is left to reap."""
    while True:
        for pid in descendants(os.getpid()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


class TimedOut(Exception):
    """Raised by the alarm (or SIGTERM) handler to stop waiting for the command."""


def _stop(*_: object) -> None:
    raise TimedOut


def main() -> int:
    status_fd, timeout_s, argv = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
    os.set_inheritable(status_fd, False)
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            os.execvp(argv[0], argv)
        except OSError as exc:
            os.write(2, f"{argv[0]} could not start: {exc.strerror or exc}\n".encode())
        os._exit(127)
    signal.signal(signal.SIGALRM, _stop)
    signal.signal(signal.SIGTERM, _stop)
    code = 255
    try:
        signal.setitimer(signal.ITIMER_REAL, timeout_s)
        _, status = os.waitpid(pid, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
        code = os.waitstatus_to_exitcode(status)
        code = 128 - code if code < 0 else code
    except TimedOut:
        os.write(status_fd, b"timeout")
    signal.signal(signal.SIGALRM, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.close(status_fd)
    end_all()
    return code


if __name__ == "__main__":
    sys.exit(main())
