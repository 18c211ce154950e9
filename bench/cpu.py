"""CPU time per message, by process role, read from /proc.

The bench machine is CPU-bound, so a path's throughput follows the CPU it spends per
message across every process it involves; reading that CPU by role says where a gap between
two paths belongs (our worker, Celery's parent, the broker...).

Counted: the processes the run's supervisor started and their descendants (a Celery
worker's pool), the bench process itself (it publishes, then waits), and three servers found
by their command line: RabbitMQ (`beam.smp`), Redis (`redis-server`) and PostgreSQL (its
own processes and the backends of the run's database, not those of other databases). The
servers are shared: whatever else uses them meanwhile is counted too, and one that does not
run on this machine is not seen. Nothing else on the machine is counted. A process that
exits between two snapshots is not counted (none of ours does while it is measured). A
snapshot costs the bench a few milliseconds of CPU (about 100 processes read), charged to
`publisher`: 0.01 ms per message at a thousand messages. The clock tick (10 ms) is the
resolution per process, so small runs give coarse figures.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

#: Clock ticks per second: the unit of utime and stime in /proc/<pid>/stat.
TICKS_PER_S = os.sysconf("SC_CLK_TCK")

PUBLISHER = "publisher"
RABBITMQ = "rabbitmq"
REDIS = "redis"
POSTGRES = "postgres"
SERVERS = (RABBITMQ, REDIS, POSTGRES)

#: A PostgreSQL backend's title names its database before the client's address:
#: `postgres: 15/main: user dbname 127.0.0.1(41234) idle`, or `... dbname [local] idle`.
_BACKEND = re.compile(r"(\S+) (?:\[local\]|\S+\(\d+\))")


@dataclass(frozen=True)
class ProcessStat:
    """One process as /proc/<pid>/stat and /proc/<pid>/cmdline show it.

    `started` (clock ticks after boot) tells a reused pid from the process it replaced.
    """

    pid: int
    ppid: int
    comm: str
    cmdline: str
    started: int
    ticks: int
    sys_ticks: int


@dataclass(frozen=True)
class Sample:
    """One counted process in a snapshot: its role and CPU so far, in clock ticks."""

    role: str
    ticks: int
    sys_ticks: int


#: A snapshot: (pid, started) → Sample, for every counted process.
Snapshot = dict[tuple[int, int], Sample]


@dataclass(frozen=True)
class RoleCpu:
    """CPU milliseconds per message of one role between two snapshots (user + system,
    and system alone)."""

    ms: float
    sys_ms: float


def parse(stat: str, cmdline: str) -> ProcessStat:
    """A process from the text of its stat file and its NUL-separated command line.

    The name (comm) is in parentheses and may itself hold spaces and parentheses, so the
    fields are counted from the last `)`.
    """
    pid = int(stat[: stat.index(" ")])
    comm = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return ProcessStat(
        pid=pid,
        ppid=int(fields[1]),
        comm=comm,
        cmdline=cmdline.replace("\0", " ").strip(),
        started=int(fields[19]),
        ticks=utime + stime,
        sys_ticks=stime,
    )


def read(proc: Path = Path("/proc")) -> dict[int, ProcessStat]:
    """Every process now running, by pid (one that exits while being read is left out)."""
    found: dict[int, ProcessStat] = {}
    for entry in os.scandir(proc):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            cmdline = Path(entry.path, "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        found[int(entry.name)] = parse(stat, cmdline)
    return found


def child_roles(name: str) -> tuple[str, str]:
    """The roles of a supervisor child named `name` and of its descendants.

    A Celery worker's main process and its pool are told apart (`worker-parent`,
    `worker-children`; `noop-parent`, `noop-children` for the no-op baseline); any other
    child is one role with its descendants, its index dropped (`raw-hop-1` is `raw-hop`).
    """
    if name.startswith("worker-"):
        return "worker-parent", "worker-children"
    if name == "noop-worker":
        return "noop-parent", "noop-children"
    role = re.sub(r"-\d+$", "", name)
    return role, role


def server_role(process: ProcessStat, database: str) -> str | None:
    """RabbitMQ, Redis or PostgreSQL by the process's name, or None for anything else; a
    PostgreSQL backend counts only if it serves `database` (the run's)."""
    if process.comm == "beam.smp" and "rabbit" in process.cmdline:
        return RABBITMQ
    if process.comm == "redis-server":
        return REDIS
    if process.comm == "postgres":
        backend = _BACKEND.search(process.cmdline)
        return POSTGRES if backend is None or backend.group(1) == database else None
    return None


def roles(
    processes: Mapping[int, ProcessStat], children: Mapping[int, str], me: int, database: str
) -> dict[int, str]:
    """The role of every process to count, by pid: `children` (pid → supervisor name) and
    their descendants, `me` as the publisher, and the servers; nothing else."""
    below: dict[int, list[int]] = {}
    for process in processes.values():
        below.setdefault(process.ppid, []).append(process.pid)
    found: dict[int, str] = {}
    for pid, name in children.items():
        if pid not in processes:
            continue
        own, descendants = child_roles(name)
        found[pid] = own
        pending = list(below.get(pid, ()))
        while pending:
            descendant = pending.pop()
            found[descendant] = descendants
            pending.extend(below.get(descendant, ()))
    if me in processes:
        found[me] = PUBLISHER
    for pid, process in processes.items():
        if pid not in found and (server := server_role(process, database)) is not None:
            found[pid] = server
    return found


def snapshot(children: Mapping[int, str], database: str, me: int | None = None) -> Snapshot:
    """The CPU so far of every counted process (see `roles`); `me` defaults to this process."""
    processes = read()
    counted = roles(processes, children, os.getpid() if me is None else me, database)
    return {
        (pid, processes[pid].started): Sample(role, processes[pid].ticks, processes[pid].sys_ticks)
        for pid, role in counted.items()
    }


def per_message(before: Snapshot, after: Snapshot, count: int) -> dict[str, RoleCpu]:
    """CPU milliseconds per message by role between two snapshots of `count` messages.

    A process that started in between counts from zero; one that exited is not counted.
    """
    ticks: dict[str, int] = {}
    sys_ticks: dict[str, int] = {}
    for key, now in after.items():
        then = before.get(key, Sample(now.role, 0, 0))
        ticks[now.role] = ticks.get(now.role, 0) + now.ticks - then.ticks
        sys_ticks[now.role] = sys_ticks.get(now.role, 0) + now.sys_ticks - then.sys_ticks
    scale = 1000 / TICKS_PER_S / count
    return {
        role: RoleCpu(ms=ticks[role] * scale, sys_ms=sys_ticks[role] * scale)
        for role in sorted(ticks)
    }


def by_role(runs: list[dict[str, RoleCpu]]) -> dict[str, dict[str, list[float]]]:
    """Several runs' `per_message` as role → {"ms": [per run], "sys_ms": [per run]}, for
    results.json; a role a run did not see is 0 there."""
    table: dict[str, dict[str, list[float]]] = {}
    for role in sorted({role for run in runs for role in run}):
        cells = [run.get(role, RoleCpu(0.0, 0.0)) for run in runs]
        table[role] = {
            "ms": [round(cell.ms, 4) for cell in cells],
            "sys_ms": [round(cell.sys_ms, 4) for cell in cells],
        }
    return table
