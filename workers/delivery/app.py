"""The Celery app of the workers: at-least-once settings, and the queue of one region.

The topology is declared with pika by `broker_config.declare` at start, so Celery is told
never to declare (`no_declare`): queue arguments stay defined in one place.
"""

from __future__ import annotations

from celery import Celery, signals
from kombu import Exchange, Queue

from broker_config import RETRIES_EXCHANGE, Endpoints, region_queue
from contracts import limits
from contracts.changes import TASK_NAME
from contracts.telemetry import flush_tracing, setup_tracing
from workers.delivery.timer_sweep import TimerSweep

app = Celery("provision", include=["workers.delivery.task"])
app.conf.update(
    broker_url=Endpoints.from_env().broker_url,
    broker_use_ssl=Endpoints.from_env().celery_broker_ssl(),
    broker_connection_retry_on_startup=True,
    broker_connection_max_retries=None,
    broker_heartbeat=30,
    broker_transport_options={"confirm_publish": True, "confirm_timeout": 10.0},
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    # A task that raises unexpectedly is rejected into provision.dead, never acked away.
    task_acks_on_failure_or_timeout=False,
    worker_prefetch_multiplier=1,
    worker_cancel_long_running_tasks_on_connection_loss=True,
    task_ignore_result=True,
    task_serializer="json",
    accept_content=["json"],
    task_create_missing_queues=False,
    worker_send_task_events=False,
    # No `celery control` (shutdown, revoke, add_consumer) for anyone with broker access.
    worker_enable_remote_control=False,
    # A ceiling; each message gets its own limit from its deadline (workers.delivery.admission).
    task_time_limit=limits.TASK_TIME_LIMIT_S + 5.0,
    task_soft_time_limit=limits.TASK_TIME_LIMIT_S,
    worker_hijack_root_logger=False,
    # Unreadable messages die with a reason instead of being acked or bare-rejected.
    worker_consumer="workers.delivery.consumer:Consumer",
    enable_utc=True,
)
# Cancelled time limits would otherwise stay in the main process's timer heap for up to an
# hour each (workers.delivery.timer_sweep).
app.steps["worker"].add(TimerSweep)


@signals.worker_process_init.connect
def _trace_in_child(**_: object) -> None:
    """Each pool child sets tracing up after the fork: its batch processor's thread is its own."""
    setup_tracing("provision-worker")


@signals.worker_process_shutdown.connect
def _flush_in_child(**_: object) -> None:
    """A child about to exit (recycled, or the worker stopping) exports its buffered spans:
    it leaves by os._exit, which runs no atexit hook."""
    flush_tracing()


@signals.worker_shutdown.connect
def _flush_in_main(**_: object) -> None:
    """The solo and threads pools run tasks in the main process: flush at its shutdown."""
    flush_tracing()


def configure(
    region: str, *, broker_url: str | None = None, rate_limit: str | None = None
) -> Celery:
    """Point the app at one region's queue (and an optional per-worker rate limit)."""
    # A retry goes back to this queue through provision.retries (bound `<region>.#`), so only
    # the controller's requests travel through provision.changes, and a worker needs no
    # right on the default exchange (which reaches every queue, another region's too).
    name = region_queue(region)
    retries = Exchange(RETRIES_EXCHANGE, "topic", no_declare=True)
    queue = Queue(name, retries, routing_key=f"{region}.retry", no_declare=True)
    app.conf.update(task_queues=[queue], task_default_queue=queue.name)
    if broker_url:
        app.conf.broker_url = broker_url
        app.conf.broker_use_ssl = Endpoints(broker_url=broker_url).celery_broker_ssl()
    if rate_limit:
        app.conf.task_annotations = {TASK_NAME: {"rate_limit": rate_limit}}
    return app
