"""The bench's CPU accounting (bench/cpu.py) on made-up /proc contents: which processes count,
under which role, and the arithmetic per message. No services needed."""

from __future__ import annotations

import os

import pytest

from bench import cpu
from bench.cpu import ProcessStat, RoleCpu, Sample

DATABASE = "provisioning_bench_throughput_4242"
BENCH = 100


def _process(
    pid: int, ppid: int, comm: str, cmdline: str = "", ticks: int = 0, started: int = 1
) -> ProcessStat:
    return ProcessStat(pid, ppid, comm, cmdline or comm, started, ticks, ticks // 2)


MACHINE = {
    process.pid: process
    for process in (
        _process(1, 0, "init"),
        _process(BENCH, 1, "python", "python -m bench --quick"),
        _process(200, BENCH, "python", "python -m workers worker --region tput"),
        _process(201, 200, "python", "python -m workers worker --region tput"),
        _process(202, 200, "python", "python -m workers worker --region tput"),
        _process(203, 201, "sh", "sh -c true"),
        _process(210, BENCH, "python", "python -m producers aggregator"),
        _process(220, BENCH, "python", "python -m celery -A bench.noop worker"),
        _process(221, 220, "python", "python -m celery -A bench.noop worker"),
        _process(230, BENCH, "python", "python -m bench.chain hop"),
        _process(231, BENCH, "python", "python -m bench.chain hop"),
        _process(232, BENCH, "python", "python -m bench.floor sink"),
        _process(250, BENCH, "rabbitmqctl", "rabbitmqctl -q list_vhosts"),
        _process(300, 1, "beam.smp", "/usr/lib/erlang/bin/beam.smp -- -s rabbit boot"),
        _process(301, 1, "beam.smp", "/usr/lib/erlang/bin/beam.smp -- -s ejabberd"),
        _process(310, 1, "redis-server", "redis-server 127.0.0.1:6379"),
        _process(320, 1, "postgres", "/usr/lib/postgresql/15/bin/postgres -D /var/lib/pg"),
        _process(321, 320, "postgres", "postgres: 15/main: walwriter"),
        _process(322, 320, "postgres", f"postgres: 15/main: bench {DATABASE} 127.0.0.1(4711) idle"),
        _process(323, 320, "postgres", f"postgres: bench {DATABASE} [local] idle"),
        _process(324, 320, "postgres", "postgres: 15/main: alice shop 127.0.0.1(4712) idle"),
        _process(400, 1, "python", "python -m workers worker --region tput"),  # not ours
        _process(401, 400, "python", "python -m workers worker --region tput"),
    )
}
CHILDREN = {
    200: "worker-tput",
    210: "aggregator",
    220: "noop-worker",
    230: "raw-hop-0",
    231: "raw-hop-1",
    232: "floor-sink",
    999: "floor-hop-0",  # exited: nothing to count
}


def test_each_counted_process_gets_its_role_and_nothing_else_is_counted() -> None:
    assert cpu.roles(MACHINE, CHILDREN, BENCH, DATABASE) == {
        BENCH: "publisher",
        200: "worker-parent",
        201: "worker-children",
        202: "worker-children",
        203: "worker-children",
        210: "aggregator",
        220: "noop-parent",
        221: "noop-children",
        230: "raw-hop",
        231: "raw-hop",
        232: "floor-sink",
        300: "rabbitmq",
        310: "redis",
        320: "postgres",
        321: "postgres",
        322: "postgres",
        323: "postgres",
    }


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("worker-roll", ("worker-parent", "worker-children")),
        ("noop-worker", ("noop-parent", "noop-children")),
        ("floor-hop-12", ("floor-hop", "floor-hop")),
        ("raw-sink", ("raw-sink", "raw-sink")),
        ("controller", ("controller", "controller")),
    ],
)
def test_a_child_name_gives_the_roles_of_it_and_its_descendants(
    name: str, expected: tuple[str, str]
) -> None:
    assert cpu.child_roles(name) == expected


def test_a_stat_line_is_read_from_after_the_last_parenthesis() -> None:
    fields = ["S", "7", *["0"] * 9, "150", "40", *["0"] * 6, "123456", "0"]
    stat = "4321 (odd) name (x)) " + " ".join(fields) + "\n"

    process = cpu.parse(stat, "python\0-m\0bench\0")

    assert process == ProcessStat(4321, 7, "odd) name (x)", "python -m bench", 123456, 190, 40)


def test_this_process_reads_as_itself_with_its_parent() -> None:
    me = cpu.read()[os.getpid()]
    assert me.ppid == os.getppid()
    assert me.ticks >= me.sys_ticks >= 0


def test_cpu_per_message_counts_new_processes_from_zero_and_a_reused_pid_as_new() -> None:
    ticks = cpu.TICKS_PER_S  # one second of CPU
    before = {
        (200, 1): Sample("worker-parent", ticks, 0),
        (201, 5): Sample("worker-children", 3 * ticks, ticks),
        (202, 5): Sample("worker-children", ticks, 0),  # exits: not counted
        (300, 1): Sample("rabbitmq", 10 * ticks, 0),
    }
    after = {
        (200, 1): Sample("worker-parent", 2 * ticks, 0),
        (201, 5): Sample("worker-children", 5 * ticks, 2 * ticks),
        (201, 9): Sample("worker-children", ticks, 0),  # pid 201 again, a new process
        (203, 9): Sample("worker-children", ticks, ticks),  # started in between
        (300, 1): Sample("rabbitmq", 10 * ticks, 0),
    }

    spent = cpu.per_message(before, after, count=1000)

    assert spent == {
        "rabbitmq": RoleCpu(0.0, 0.0),
        "worker-children": RoleCpu(4.0, 2.0),
        "worker-parent": RoleCpu(1.0, 0.0),
    }
    assert cpu.by_role([spent, {"redis": RoleCpu(0.5, 0.25)}]) == {
        "rabbitmq": {"ms": [0.0, 0.0], "sys_ms": [0.0, 0.0]},
        "redis": {"ms": [0.0, 0.5], "sys_ms": [0.0, 0.25]},
        "worker-children": {"ms": [4.0, 0.0], "sys_ms": [2.0, 0.0]},
        "worker-parent": {"ms": [1.0, 0.0], "sys_ms": [0.0, 0.0]},
    }
