"""The one task: a change request in, the engine run at most once in effect, an outcome out.

Thin on purpose: validation is the contract's, convergence the engine's, idempotency the
guard's and the journal's, publishing the reporter's. What this module decides is the
fate of each request: dead letter (bad, expired, poison, out of attempts), a wait or a
retry with backoff (transient), superseded (older than what the target applied), or an
outcome recorded once and re-published on every redelivery.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

from celery.exceptions import Reject
from celery.utils.log import get_task_logger
from pydantic import ValidationError

from broker_config import CHANGES_EXCHANGE, region_queue
from contracts import ChangeRequest, ContractError, ErrorInfo, OutcomeEvent, OutcomeStatus
from contracts.changes import TASK_NAME, utcnow
from contracts.dead import REPLAY
from contracts.telemetry import ATTR_CHANGE_ID, ATTR_TARGET, setup_tracing, span_from
from workers.delivery.app import app
from workers.delivery.guard import MAX_DELIVERIES, LockBusy, ServiceUnavailable, guard
from workers.delivery.report import dead_letter, outcome, report
from workers.delivery.retry import (
    MAX_ATTEMPTS,
    MAX_WAITS,
    WAIT_CAP_S,
    backoff_cap_s,
    backoff_s,
    is_transient,
)
from workers.engine.convergence import Convergence, converge
from workers.engine.hosts import TargetError
from workers.engine.journal import Journal
from workers.engine.target_lock import TargetLocked, held

log = get_task_logger("provision.tasks")

EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
TRACE_HEADERS = ("traceparent", "tracestate")


@app.task(name=TASK_NAME, bind=True, max_retries=None)
def converge_task(
    self: Any, request: Any = None, waits: int = 0, replay: str | None = None, **unexpected: Any
) -> str:
    """Converge one target to its desired state, at most once in effect, and report it.

    Args:
        request: The ChangeRequest, as JSON.
        waits: Retries so far that waited for a lock or for Redis (not engine attempts).
        replay: The replay id `provision dlq replay` gave the message, carried on retries.
    """
    setup_tracing("provision-worker")
    started = utcnow()
    retries = int(self.request.retries or 0)
    attempts = retries - waits + 1
    replay = replay or getattr(self.request, REPLAY, None)
    headers = _trace_headers(self)
    with span_from(headers, "provision.converge") as span:
        try:
            if unexpected:
                names = sorted(unexpected)
                raise ContractError("task", [(name, "unexpected argument") for name in names])
            change = ChangeRequest.model_validate(request)
        except (ValidationError, ContractError) as exc:
            problem = (
                exc
                if isinstance(exc, ContractError)
                else ContractError.from_validation("change request", exc)
            )
            return _reject(self, request, f"invalid change request: {problem}", started, attempts)
        span.set_attribute(ATTR_CHANGE_ID, change.change_id)
        span.set_attribute(ATTR_TARGET, change.target.id)
        try:
            begun = guard().begin(
                str(self.request.id), f"{retries}:{replay or 0}", change.change_id, change.target.id
            )
            starts = begun.starts
            if starts > MAX_DELIVERIES:
                reason = (
                    f"poison: started {starts} times without finishing (its worker died or "
                    f"lost the broker each time; the limit is {MAX_DELIVERIES})"
                )
                return _reject(self, request, reason, started, attempts, change)
            if change.expires_at <= started:
                reason = f"expired at {change.expires_at.isoformat()}"
                return _reject(self, request, reason, started, attempts, change)
            event: OutcomeEvent | Convergence | None = begun.recorded
            dry = change.dry_run
            if event is None:
                # The flock on the target also keeps agents out, and outlives a Redis flush.
                with guard().lock(change.target.id), held(change.target, create=not dry):
                    event = _converge_once(self, change, started, attempts, begun.fence)
        except (LockBusy, TargetLocked, ServiceUnavailable) as exc:
            return _wait(self, change, exc, started, attempts, waits, replay)
        if isinstance(event, Convergence):
            return _retry_or_fail(self, change, event, started, attempts, waits, replay)
        _report(event, change)
        return event.status.value


def _converge_once(
    task: Any, change: ChangeRequest, started: Any, attempts: int, fenced: int | None
) -> OutcomeEvent | Convergence:
    """Under the target's lock: the recorded outcome, superseded, or one engine run.

    Returns a Convergence (not an event) when the run failed transiently: nothing is
    recorded then, so the retry converges again.
    """
    journal = Journal(change.target)
    worker = str(task.request.hostname or "worker")
    try:
        prior = journal.outcome(change.change_id)
        applied, revision = journal.sequence(), journal.revision()
    except TargetError:
        prior, applied, revision = None, None, None  # no usable root: the engine reports why
    if prior is not None:
        guard().record(prior, None)
        return prior
    # The Redis fence was read as the task began; the journal, read under the lock, is the
    # target's own word, so a fence raised meanwhile is still seen.
    fence = max((s for s in (applied, fenced) if s is not None), default=None)
    why = None if change.dry_run else _superseded(change, fence, revision)
    if why is not None:
        error = ErrorInfo(type="Superseded", message=why, transient=False)
        event = outcome(change, OutcomeStatus.SUPERSEDED, attempts, worker, started, error=error)
        _finish(journal, event, None)
        return event
    result = converge(change.target, change.desired, dry_run=change.dry_run)
    if is_transient(result.status, result.error):
        return result
    event = outcome(
        change, result.status, attempts, worker, started, result.resources, result.error
    )
    _finish(journal, event, None if change.dry_run else change.sequence)
    return event


def _superseded(change: ChangeRequest, fence: int | None, revision: int | None) -> str | None:
    """Why `change` is older than what its target has applied, or None when it is not.

    Two fences: the request's sequence (newer requests win) and its source-of-truth
    revision (a target never goes back to an older revision, by push or by pull).
    """
    if change.sequence is not None and fence is not None and change.sequence < fence:
        return f"sequence {change.sequence} is older than {fence}, already applied"
    if change.revision is not None and revision is not None and change.revision < revision:
        return f"revision {change.revision} is older than revision {revision}, already applied"
    return None


def _finish(journal: Journal, event: OutcomeEvent, sequence: int | None) -> None:
    """Record a final outcome on the target (the truth), then in Redis (the fast path)."""
    if not event.dry_run:
        # No usable root means nothing was applied, so there is nothing to fence.
        with contextlib.suppress(TargetError):
            journal.record(event, sequence)
    guard().record(event, sequence)


def _report(event: OutcomeEvent, change: ChangeRequest) -> None:
    """Publish the outcome; if the broker stays away, requeue so a redelivery re-publishes."""
    try:
        report(app, event, change.target.routing_key)
    except Exception as exc:
        log.warning(
            "outcome of %s/%s not published (%s); requeued", event.change_id, event.target, exc
        )
        raise Reject(exc, requeue=True) from exc


def _retry_or_fail(
    task: Any,
    change: ChangeRequest,
    result: Convergence,
    started: Any,
    attempts: int,
    waits: int,
    replay: str | None,
) -> str:
    """A transient failure: retry with backoff, or fail (and dead-letter) when out of budget."""
    delay = backoff_s(attempts)
    if attempts < MAX_ATTEMPTS and utcnow() + timedelta(seconds=delay) < change.expires_at:
        log.info(
            "retry %d of %s/%s in %.2fs (cap %.2fs): %s",
            attempts,
            change.change_id,
            change.target.id,
            delay,
            backoff_cap_s(attempts),
            result.error.type if result.error else result.status,
        )
        raise _retry(task, change, delay, waits, replay)
    worker = str(task.request.hostname or "worker")
    event = outcome(
        change, result.status, attempts, worker, started, result.resources, result.error
    )
    why = f"{result.error.type}: {result.error.message}" if result.error else str(result.status)
    _dead_letter(task, f"exhausted after {attempts} attempt(s): {why}", attempts, change)
    _report(event, change)
    return event.status.value


def _wait(
    task: Any,
    change: ChangeRequest,
    exc: Exception,
    started: Any,
    attempts: int,
    waits: int,
    replay: str | None,
) -> str:
    """Lock busy or Redis away: come back later, within the wait budget and the deadline."""
    delay = backoff_s(waits + 1, cap_s=WAIT_CAP_S)
    if waits < MAX_WAITS and utcnow() + timedelta(seconds=delay) < change.expires_at:
        log.info(
            "wait %d of %s/%s in %.2fs: %s: %s",
            waits + 1,
            change.change_id,
            change.target.id,
            delay,
            type(exc).__name__,
            exc,
        )
        raise _retry(task, change, delay, waits + 1, replay)
    error = ErrorInfo(type=type(exc).__name__, message=str(exc), transient=True)
    worker = str(task.request.hostname or "worker")
    event = outcome(change, OutcomeStatus.FAILED, attempts, worker, started, error=error)
    _dead_letter(task, f"exhausted after {waits} wait(s): {error.type}: {exc}", attempts, change)
    _report(event, change)
    return event.status.value


def _retry(task: Any, change: ChangeRequest, delay: float, waits: int, replay: str | None) -> Any:
    headers = _trace_headers(task)
    kwargs = {"request": change.model_dump(mode="json"), "waits": waits, "replay": replay}
    queue = region_queue(change.target.region)
    shown = f"{{'change_id': {change.change_id!r}, 'target': {change.target.id!r}}}"
    options = {"argsrepr": "()", "kwargsrepr": shown}  # a repr of the state would show secrets
    return task.retry(kwargs=kwargs, countdown=delay, headers=headers, queue=queue, **options)


def _reject(
    task: Any,
    request: Any,
    reason: str,
    started: Any,
    attempts: int,
    change: ChangeRequest | None = None,
) -> str:
    """Dead-letter the original message with its reason, and report `rejected` if we can."""
    _dead_letter(task, reason, attempts, change)
    change_id, target = _identify(change, request)
    if change_id is not None and target is not None:
        event = outcome(
            change,
            OutcomeStatus.REJECTED,
            attempts,
            str(task.request.hostname or "worker"),
            started,
            error=ErrorInfo(type="RejectedRequest", message=reason, transient=False),
            change_id=change_id,
            target=target,
        )
        routing_key = str((task.request.delivery_info or {}).get("routing_key") or "rejected")
        report(app, event, routing_key)
    return OutcomeStatus.REJECTED.value


def _dead_letter(
    task: Any, reason: str, attempts: int, change: ChangeRequest | None = None
) -> None:
    """Publish the original message (as first sent) to provision.dead with `reason`.

    A retry arrives straight from the queue, so the original exchange and routing key are
    the change's own, not the retry's delivery info.
    """
    delivery = task.request.delivery_info or {}
    routing_key = str(delivery.get("routing_key") or "")
    exchange = str(delivery.get("exchange") or CHANGES_EXCHANGE)
    if change is not None:
        exchange, routing_key = CHANGES_EXCHANGE, change.target.routing_key
    headers: dict[str, Any] = {"task": TASK_NAME, "id": task.request.id}
    headers.update(
        {k: getattr(task.request, k) for k in TRACE_HEADERS if getattr(task.request, k, None)}
    )
    kwargs = dict(task.request.kwargs or {})
    kwargs.pop("waits", None)
    kwargs.pop("replay", None)
    dead_letter(
        app,
        body=[list(task.request.args or []), kwargs, EMBED],
        headers=headers,
        reason=reason,
        source=routing_key,
        exchange=exchange,
        routing_key=routing_key,
        attempts=attempts,
    )


def _identify(change: ChangeRequest | None, request: Any) -> tuple[str | None, str | None]:
    """The change id and target id of a request, even a malformed one, where present."""
    if change is not None:
        return change.change_id, change.target.id
    if not isinstance(request, dict):
        return None, None
    target = request.get("target")
    target_id = target.get("id") if isinstance(target, dict) else None
    change_id = request.get("change_id")
    if isinstance(change_id, str) and isinstance(target_id, str):
        return change_id, target_id
    return None, None


def _trace_headers(task: Any) -> dict[str, Any]:
    """The W3C trace context the message carried, to pass on."""
    return {k: getattr(task.request, k) for k in TRACE_HEADERS if getattr(task.request, k, None)}
