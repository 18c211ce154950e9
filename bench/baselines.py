"""Driving the baselines: plain Celery no-op tasks, the raw pika chain, and the floor chain
(the raw chain plus the essential I/O of one change, `bench.floor`)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pika

from bench import chain, floor, noop
from bench.errors import BenchError
from bench.processes import wait_for_consumers
from bench.sandbox import Sandbox
from producers.messaging.window import ConfirmWindow
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
    """Send `count` no-op tasks and wait until all ran; return the seconds taken.

    The tasks are Celery's own messages (protocol 2, built by Celery), published through the
    same window of confirms as the pipeline's requests: sent one confirm at a time, as
    `send_task` does, the no-op measured its publisher's round trips more than its worker
    (716 to 749 /s against 1,218 to 1,283 through the window, in one hour).
    """
    client = noop.sender(box.broker_url)

    def messages() -> Iterator[tuple[str, str, bytes, pika.BasicProperties]]:
        for index in range(count):
            task_id = str(uuid.uuid4())
            message = client.amqp.as_task_v2(task_id, noop.TASK, args=[tag, index], kwargs={})
            properties = pika.BasicProperties(
                content_type="application/json",
                content_encoding="utf-8",
                delivery_mode=2,
                correlation_id=task_id,
                headers=message.headers,
            )
            yield "", noop.NOOP_QUEUE, json.dumps(message.body).encode(), properties

    try:
        return _windowed(box, messages(), noop.done_key(tag), count, timeout_s, "no-op tasks")
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
    def messages() -> Iterator[tuple[str, str, bytes, pika.BasicProperties]]:
        for index in range(count):
            properties = pika.BasicProperties(
                content_type="application/json", delivery_mode=2, correlation_id=str(index)
            )
            yield module.EXCHANGE, module.HOP_QUEUE, module.body(tag, index), properties

    return _windowed(box, messages(), module.done_key(tag), count, timeout_s, what)


def _windowed(
    box: Sandbox,
    messages: Iterator[tuple[str, str, bytes, pika.BasicProperties]],
    key: str,
    count: int,
    timeout_s: float,
    what: str,
) -> float:
    """Publish `messages` (exchange, routing key, body, properties) through a window of
    confirms, as the pipeline's publisher does; time them until `key` counts `count`."""
    connection: Any = pika.BlockingConnection(pika.URLParameters(box.broker_url))
    window = ConfirmWindow(connection)

    def send() -> None:
        for exchange, routing_key, body, properties in messages:
            window.publish(routing_key, exchange, routing_key, body, properties)
        untaken = window.drain()
        if untaken:
            raise BenchError(f"{what}: the broker did not take {len(untaken)} messages")

    try:
        return _timed(box, send, key, count, timeout_s, what)
    finally:
        window.close()
        connection.close()
