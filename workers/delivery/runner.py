"""`provision worker --region R`: declare the topology, then run a Celery worker on R's queue."""

from __future__ import annotations

import os

from broker_config import Endpoints, declare, region_queue
from broker_config.connections import connect_broker
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
) -> None:
    """Fail fast if RabbitMQ is unreachable; otherwise consume until stopped.

    `allow` is installed before the pool forks, so every child checks every request
    against it (and `hosts.connect` checks every root it opens).
    """
    endpoints = Endpoints.from_env()  # a bad PROVISION_BROKER_URL_FILE: one line, first
    from workers.delivery.app import configure

    install(allow)
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
        ]
    )
