"""The plain Celery baseline: a no-op task on the same broker with our workers' settings.

The settings are copied from `workers.delivery.app` at import, so the baseline follows any change
to them. The task records its own completion in Redis (a counter per run, and a hash per
message whose write the latency watcher sees), so the measure is end to end.
Run it as `celery -A bench.noop worker -Q bench.noop`.
"""

from __future__ import annotations

import os
from typing import Any

import redis
from celery import Celery
from kombu import Queue

from workers.delivery.app import app as provision_app

NOOP_QUEUE = "bench.noop"
TASK = "bench.noop"

#: Settings of `workers.delivery.app` that shape how a task is delivered, run and acknowledged.
SAME_AS_WORKERS = (
    "broker_connection_retry_on_startup",
    "broker_connection_max_retries",
    "broker_heartbeat",
    "broker_transport_options",
    "task_acks_late",
    "task_reject_on_worker_lost",
    "task_acks_on_failure_or_timeout",
    "worker_prefetch_multiplier",
    "worker_cancel_long_running_tasks_on_connection_loss",
    "task_ignore_result",
    "task_serializer",
    "accept_content",
    "worker_send_task_events",
    "worker_hijack_root_logger",
    "enable_utc",
)

app = Celery("bench-noop")
app.conf.update(
    {name: provision_app.conf[name] for name in SAME_AS_WORKERS},
    broker_url=os.environ.get("PROVISION_BROKER_URL", provision_app.conf.broker_url),
    task_queues=[Queue(NOOP_QUEUE, durable=True)],
    task_default_queue=NOOP_QUEUE,
)

_client: redis.Redis | None = None


def done_key(tag: str) -> str:
    """The counter of no-op tasks finished in run `tag`."""
    return f"bench:noop:{tag}:done"


def message_key(tag: str, index: int) -> str:
    """The hash written when message `index` of run `tag` is done (seen by the watcher)."""
    return f"bench:noop:{tag}:{index}"


def _redis() -> redis.Redis:
    global _client
    if _client is None:  # one client per pool process, made after the fork
        _client = redis.Redis.from_url(os.environ["PROVISION_REDIS_URL"])
    return _client


@app.task(name=TASK)
def noop(tag: str, index: int) -> None:
    """Nothing but the record that it ran: one Redis round trip."""
    pipe: Any = _redis().pipeline(transaction=False)
    pipe.incr(done_key(tag))
    pipe.hset(message_key(tag, index), "done", 1)
    pipe.execute()


def worker_argv(concurrency: int) -> list[str]:
    """The no-op worker's command line: the flags `workers.delivery.runner` gives our worker."""
    return [
        "-m",
        "celery",
        "-A",
        "bench.noop",
        "worker",
        "--queues",
        NOOP_QUEUE,
        "--concurrency",
        str(concurrency),
        "--pool",
        "prefork",
        "--hostname",
        f"noop-{os.getpid()}@%h",
        "--loglevel",
        "WARNING",
        "--without-mingle",
        "--without-gossip",
    ]


def sender(broker_url: str) -> Celery:
    """A Celery app in the harness that publishes no-op tasks to one vhost, plain Celery style."""
    client = Celery("bench-noop-sender")
    client.conf.update(
        {name: provision_app.conf[name] for name in SAME_AS_WORKERS},
        broker_url=broker_url,
        task_queues=[Queue(NOOP_QUEUE, durable=True)],
        task_default_queue=NOOP_QUEUE,
    )
    return client
