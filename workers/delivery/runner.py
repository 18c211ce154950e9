"""`provision worker --region R`: declare the topology, then run a Celery worker on R's queue."""

from __future__ import annotations

import os

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from broker_config import Endpoints, declare, region_queue
from broker_config.connections import connect_broker
from contracts.command_line import METRICS_HOST
from workers.engine.hosts.allow import AllowRule, install


def run_worker(
    *,
    region: str,
    concurrency: int,
    rate_limit: str | None,
    pool: str,
    name: str | None,
    loglevel: str,
    allow: AllowRule,
    controller_key: Ed25519PublicKey,
    metrics_port: int | None = None,
    metrics_host: str = METRICS_HOST,
    max_tasks_per_child: int | None = None,
    max_memory_per_child: int | None = None,
) -> None:
    """Fail fast if RabbitMQ is unreachable; otherwise consume until stopped.

    `allow` is installed before the pool forks, so every child checks every request
    against it (and `hosts.connect` checks every root it opens). `controller_key` is
    installed alike: admission verifies every request's signature with it. So are the
    metrics, whose multiprocess directory every child writes to (`workers.delivery.metrics`).
    `max_tasks_per_child` and `max_memory_per_child` (KiB) recycle pool processes, Celery's
    own bound on whatever a process might keep; a child leaves between requests only.
    """
    endpoints = Endpoints.from_env()  # a bad PROVISION_BROKER_URL_FILE: one line, first
    from workers.delivery import controller_key as verifying

    if metrics_port is not None:
        from workers.delivery.metrics import serve

        serve(metrics_port, metrics_host, region)
    from workers.delivery.app import configure

    install(allow)
    verifying.install(controller_key)
    connection = connect_broker(endpoints)
    try:
        declare(connection, [region])
    finally:
        connection.close()
    app = configure(region, broker_url=endpoints.broker_url, rate_limit=rate_limit)
    node = name or f"{region}-{os.getpid()}@%h"
    app.worker_main(
        [
            "worker",
            "--queues",
            region_queue(region),
            "--concurrency",
            str(concurrency),
            "--pool",
            pool,
            "--hostname",
            node,
            "--loglevel",
            loglevel,
            "--without-mingle",
            "--without-gossip",
            *_recycling(max_tasks_per_child, max_memory_per_child),
        ]
    )


def _recycling(tasks: int | None, memory_kib: int | None) -> list[str]:
    """Celery's flags for replacing pool processes, for those that are set."""
    flags: list[str] = []
    if tasks is not None:
        flags += ["--max-tasks-per-child", str(tasks)]
    if memory_kib is not None:
        flags += ["--max-memory-per-child", str(memory_kib)]
    return flags
