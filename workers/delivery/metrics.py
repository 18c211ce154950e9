"""The worker's metrics: one endpoint for the Celery parent and every pool child.

prometheus_client's multiprocess mode: each process of the worker writes its samples to
files of its own (one per pid and kind) in PROMETHEUS_MULTIPROC_DIR, a directory of this
worker's own, emptied at start; the parent serves them all through a MultiProcessCollector,
and a child marks itself dead as it exits (Celery's worker_process_shutdown). The
directory must be set before prometheus_client creates a value, so `serve` sets it, then
creates the metrics, all in the parent before the pool forks; children inherit them.

Off unless `--metrics-port` (or PROVISION_METRICS_PORT) is given: until `serve` runs every
function here returns at once. Counters and histograms only: multiprocess mode has no
custom collectors, and the worker has no gauge to keep.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from broker_config import dead_letters
from contracts import ChangeRequest
from contracts.changes import utcnow
from contracts.errors import ContractError
from contracts.metrics import (
    CONVERGE_SECONDS,
    DEAD_LETTERS,
    OUTCOME_STATUSES,
    OUTCOMES,
    QUEUE_WAIT_SECONDS,
    RETRIES,
    Metric,
    dead_letter_reason,
    in_vocabulary,
    retry_reason,
)

#: prometheus_client's variable naming the multiprocess directory.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: The file whose flock says a worker uses the directory.
LOCK_FILE = ".lock"


class WorkerMetrics:
    """The worker's metric objects (values in the multiprocess directory's files)."""

    def __init__(self, region: str) -> None:
        self.region = region
        self.outcomes = _build(OUTCOMES)
        self.retries = _build(RETRIES)
        self.dead_letters = _build(DEAD_LETTERS)
        self.converge = _build(CONVERGE_SECONDS)
        self.queue_wait = _build(QUEUE_WAIT_SECONDS)
        for status in OUTCOME_STATUSES:
            self.outcomes.labels(status, region)


def _build(spec: Metric) -> Any:
    """One metric, registered nowhere: the parent's MultiProcessCollector reads its files."""
    from prometheus_client import Counter, Histogram

    if spec.kind == "histogram":
        return Histogram(spec.name, spec.help, spec.labels, registry=None, buckets=spec.buckets)
    metric = Counter(spec.name, spec.help, spec.labels, registry=None)
    for value in spec.values:
        metric.labels(value)
    return metric


_metrics: WorkerMetrics | None = None
#: The descriptor holding the multiprocess directory's lock (open for the worker's life).
_lock: int | None = None


def metrics_dir(port: int) -> Path:
    """PROMETHEUS_MULTIPROC_DIR if set, else one per user and port in the temporary
    directory (a port has one worker at a time: the one that bound it)."""
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        return Path(given)
    return Path(tempfile.gettempdir()) / f"provision-worker-metrics-{os.getuid()}-{port}"


def prepare(directory: Path) -> Path:
    """Create `directory` (0700) or check it is ours, lock it, then empty it of samples.

    Samples left by an earlier run would otherwise add to this run's counts. The lock
    (a flock on `.lock` inside, held for the worker's life, its children's too) keeps a
    second worker from emptying a directory in use. Refused: a symlink, anything but a
    directory, a directory owned by another user, or one another worker holds.
    """
    global _lock
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(directory)
    except OSError as exc:
        raise _refused(f"cannot create {directory}: {exc.strerror or exc}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise _refused(f"{directory} is not a directory (or is a symlink)")
    if info.st_uid != os.getuid():
        raise _refused(f"{directory} belongs to another user")
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        descriptor = os.open(directory / LOCK_FILE, flags, 0o600)
    except OSError as exc:
        raise _refused(f"cannot lock {directory}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise _refused(f"{directory} is in use by another worker") from None
    if _lock is not None:
        os.close(_lock)
    _lock = descriptor
    for entry in directory.iterdir():
        if entry.suffix == ".db" and entry.is_file() and not entry.is_symlink():
            entry.unlink()
    return directory


def _refused(reason: str) -> ContractError:
    """The multiprocess directory cannot be used: the worker does not start."""
    return ContractError("provision worker", [(MULTIPROC_ENV, reason)])


def serve(port: int, host: str, region: str) -> WorkerMetrics:
    """Serve every process's samples on http://host:port/metrics from this (the parent)
    process, from a multiprocess directory prepared once the port is ours (so a worker
    started twice on one port empties nothing of the first one's)."""
    global _metrics
    directory = metrics_dir(port)
    os.environ[MULTIPROC_ENV] = str(directory)
    from prometheus_client import CollectorRegistry, start_http_server, values
    from prometheus_client.multiprocess import MultiProcessCollector

    # Imported before the variable was set, prometheus_client would keep values in memory.
    values.ValueClass = values.get_value_class()
    registry = CollectorRegistry()
    try:
        server, _ = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        reason = f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}"
        raise ContractError("provision worker", [("--metrics-port", reason)]) from None
    try:
        prepare(directory)
    except ContractError:
        server.shutdown()
        server.server_close()
        raise
    MultiProcessCollector(registry, path=str(directory))
    _metrics = WorkerMetrics(region)
    dead_letters.observe(dead_lettered)
    _on_children(server, directory)
    return _metrics


def _on_children(server: Any, directory: Path) -> None:
    """A pool child closes the inherited listening socket (only the parent serves) and,
    as it exits, marks itself dead so its live samples are dropped."""
    from celery.signals import worker_process_init, worker_process_shutdown
    from prometheus_client import multiprocess

    def child_started(**_: Any) -> None:
        with contextlib.suppress(OSError):
            server.socket.close()

    def child_exiting(**_: Any) -> None:
        multiprocess.mark_process_dead(os.getpid(), str(directory))

    worker_process_init.connect(child_started, weak=False)
    worker_process_shutdown.connect(child_exiting, weak=False)


def published(status: str) -> None:
    """One outcome this worker published (provision_outcomes_total, its own region)."""
    if _metrics is not None:
        _metrics.outcomes.labels(in_vocabulary(status, OUTCOME_STATUSES), _metrics.region).inc()


def retried(error_type: str | None) -> None:
    """One request sent round again; `error_type` is its error's type (or the exception's
    class name for a wait), mapped to the fixed vocabulary."""
    if _metrics is not None:
        _metrics.retries.labels(retry_reason(error_type)).inc()


def dead_lettered(reason: str) -> None:
    if _metrics is not None:
        _metrics.dead_letters.labels(dead_letter_reason(reason)).inc()


@contextlib.contextmanager
def converging() -> Iterator[None]:
    """Times one engine run into provision_converge_seconds."""
    started = time.perf_counter()
    try:
        yield
    finally:
        if _metrics is not None:
            _metrics.converge.observe(time.perf_counter() - started)


def received(change: ChangeRequest, request: Any) -> None:
    """provision_queue_wait_seconds: from the request's `issued_at` (the controller sets it
    as it publishes) to now, for a first delivery only. A clock behind the controller's
    counts 0, never less."""
    if _metrics is None:
        return
    delivery = getattr(request, "delivery_info", None) or {}
    if int(getattr(request, "retries", 0) or 0) or delivery.get("redelivered"):
        return
    _metrics.queue_wait.observe(max(0.0, (utcnow() - change.issued_at).total_seconds()))
