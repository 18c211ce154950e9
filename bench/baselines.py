"""Driving the baselines: plain Celery no-op tasks, the raw pika chain, and the floor chain
(the raw chain plus the essential I/O of one change, `bench.floor`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pika

from bench import chain, floor, noop
from bench.errors import BenchError
from bench.processes import wait_for_consumers
from bench.sandbox import Sandbox
from producers.processes.supervisor import Supervisor

POLL_S = 0.01


def start_noop(children: Supervisor, box: Sandbox, concurrency: int) -> None:
    """The plain Celery worker, ready to consume."""
    children.start("noop-worker", noop.worker_argv(concurrency), box.env)
    wait_for_consumers(children, box.broker_url, [noop.NOOP_QUEUE])


def start_chain(children: Supervisor, box: Sandbox, hops: int) -> None:
    """`hops` hop processes (one per worker process) and one sink, ready to consume."""
    _start_two_hops(children, box, hops, chain, "raw", box.env)


def start_floor(children: Supervisor, box: Sandbox, hops: int, root: Path) -> None:
    """The floor chain's hops (writing files under `root`) and its sink, ready to consume."""
    root.mkdir(parents=True, exist_ok=True)
    floor.prepare_table(box.database_url)
    env = {**box.env, "BENCH_FLOOR_ROOT": str(root)}
    _start_two_hops(children, box, hops, floor, "floor", env)


def _start_two_hops(
    children: Supervisor,
    box: Sandbox,
    hops: int,
    module: ModuleType,
    name: str,
    env: dict[str, str],
) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(box.broker_url))
    try:
        module.declare(connection.channel())
    finally:
        connection.close()
    for index in range(hops):
        children.start(f"{name}-hop-{index}", ["-m", module.__name__, "hop"], env)
    children.start(f"{name}-sink", ["-m", module.__name__, "sink"], env)
    wait_for_consumers(children, box.broker_url, [module.HOP_QUEUE, module.SINK_QUEUE])


def wait_count(read: Callable[[], int], total: int, timeout_s: float, what: str) -> None:
    """Poll a counter until it reaches `total`; raise BenchError after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while read() < total:
        if time.monotonic() > deadline:
            raise BenchError(f"{what}: {read()} of {total} done after {timeout_s:g}s")
        time.sleep(POLL_S)


def _timed(
    box: Sandbox, send: Callable[[], None], key: str, count: int, timeout_s: float, what: str
) -> float:
    """Seconds from the first send until the counter at `key` reached `count`."""
    counter = box.redis()
    try:
        started = time.perf_counter()
        send()
        wait_count(lambda: int(counter.get(key) or 0), count, timeout_s, what)
        return time.perf_counter() - started
    finally:
        counter.close()


def run_noop(box: Sandbox, tag: str, count: int, timeout_s: float) -> float:
    """Send `count` no-op tasks with Celery and wait until all ran; return the seconds taken."""
    client = noop.sender(box.broker_url)

    def send() -> None:
        for index in range(count):
            client.send_task(noop.TASK, args=[tag, index])

    try:
        return _timed(box, send, noop.done_key(tag), count, timeout_s, "no-op tasks")
    finally:
        client.close()


def run_chain(box: Sandbox, tag: str, count: int, timeout_s: float) -> float:
    """Publish `count` messages into the raw chain; wait until the sink counted them all."""
    return _run_two_hops(box, chain, tag, count, timeout_s, "raw chain")


def run_floor(box: Sandbox, tag: str, count: int, timeout_s: float) -> float:
    """Publish `count` requests into the floor chain; wait until all are durable."""
    return _run_two_hops(box, floor, tag, count, timeout_s, "floor chain")


def _run_two_hops(
    box: Sandbox, module: ModuleType, tag: str, count: int, timeout_s: float, what: str
) -> float:
    connection: Any = pika.BlockingConnection(pika.URLParameters(box.broker_url))
    channel = connection.channel()
    channel.confirm_delivery()

    def send() -> None:
        for index in range(count):
            module.publish(channel, module.HOP_QUEUE, module.body(tag, index))

    try:
        return _timed(box, send, module.done_key(tag), count, timeout_s, what)
    finally:
        connection.close()
