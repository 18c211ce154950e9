"""Driving the two transport baselines: plain Celery no-op tasks, and the raw pika chain."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pika

from bench import chain, noop
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
    connection = pika.BlockingConnection(pika.URLParameters(box.broker_url))
    try:
        chain.declare(connection.channel())
    finally:
        connection.close()
    for index in range(hops):
        children.start(f"raw-hop-{index}", ["-m", "bench.chain", "hop"], box.env)
    children.start("raw-sink", ["-m", "bench.chain", "sink"], box.env)
    wait_for_consumers(children, box.broker_url, [chain.HOP_QUEUE, chain.SINK_QUEUE])


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
    """Publish `count` messages into the chain and wait until the sink counted them all."""
    connection: Any = pika.BlockingConnection(pika.URLParameters(box.broker_url))
    channel = connection.channel()
    channel.confirm_delivery()

    def send() -> None:
        for index in range(count):
            chain.publish(channel, chain.HOP_QUEUE, chain.body(tag, index))

    try:
        return _timed(box, send, chain.done_key(tag), count, timeout_s, "raw chain")
    finally:
        connection.close()
