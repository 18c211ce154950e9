"""The fate of a request that was not simply converged and reported.

Dead letter (bad, expired, poison, out of attempts), a wait or a retry with backoff
(transient), or a `rejected` outcome; and the outcome's publication, requeued when the
broker stays away so a redelivery re-publishes it. `task.py` decides which; this carries it out.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery.exceptions import Reject
from celery.utils.log import get_task_logger

from broker_config import CHANGES_EXCHANGE, RETRIES_EXCHANGE, dead_letters, region_queue
from contracts import ChangeRequest, ErrorInfo, OutcomeEvent, OutcomeStatus
from contracts.changes import EMPTY_EMBED, TASK_NAME, utcnow
from contracts.telemetry import (
    ATTR_CHANGE_ID,
    ATTR_REASON,
    ATTR_TARGET,
    MESSAGING_ROUTING_KEY,
    sending,
)
from workers.delivery import metrics, receipt
from workers.delivery.app import app
from workers.delivery.report import kombu_send, outcome, report, user_of
from workers.delivery.retry import (
    MAX_ATTEMPTS,
    MAX_WAITS,
    WAIT_CAP_S,
    backoff_cap_s,
    backoff_s,
)
from workers.engine.convergence import Convergence

log = get_task_logger("provision.tasks")

TRACE_HEADERS = ("traceparent", "tracestate")


def report_or_requeue(event: OutcomeEvent, change: ChangeRequest) -> None:
    """Publish the outcome; if the broker stays away, requeue so a redelivery re-publishes."""
    try:
        report(app, event, change.target.routing_key)
    except Exception as exc:
        log.warning(
            "outcome of %s/%s not published (%s); requeued", event.change_id, event.target, exc
        )
        raise Reject(exc, requeue=True) from exc


def retry_or_fail(
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
        why = f"{result.error.type}: {result.error.message}" if result.error else result.status
        tries = _tried("retry", attempts, str(why), delay)
        metrics.retried(result.error.type if result.error else None)
        raise retry(task, change, delay, waits, replay, tries)
    worker = str(task.request.hostname or "worker")
    why = f"{result.error.type}: {result.error.message}" if result.error else str(result.status)
    reason = f"exhausted after {attempts} attempt(s): {why}"
    event = outcome(
        change,
        result.status,
        attempts,
        worker,
        started,
        result.resources,
        result.error,
        dead_letter=reason,
    )
    dead_letter(task, reason, attempts, change)
    report_or_requeue(event, change)
    return event.status.value


def wait(
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
        tries = _tried("wait", attempts, f"{type(exc).__name__}: {exc}", delay)
        metrics.retried(type(exc).__name__)
        raise retry(task, change, delay, waits + 1, replay, tries)
    error = ErrorInfo(type=type(exc).__name__, message=str(exc), transient=True)
    worker = str(task.request.hostname or "worker")
    reason = f"exhausted after {waits} wait(s): {error.type}: {exc}"
    event = outcome(
        change, OutcomeStatus.FAILED, attempts, worker, started, error=error, dead_letter=reason
    )
    dead_letter(task, reason, attempts, change)
    report_or_requeue(event, change)
    return event.status.value


def _tried(kind: str, attempt: int, reason: str, delay: float) -> list[dict[str, Any]]:
    """The retry message's `tries`: the earlier ones and this one, with its reason."""
    held = receipt.current()
    if held is None:
        return []
    return held.retried(kind=kind, attempt=attempt, at=utcnow(), reason=reason, backoff_s=delay)


def retry(
    task: Any,
    change: ChangeRequest,
    delay: float,
    waits: int,
    replay: str | None,
    tries: list[dict[str, Any]] | None = None,
) -> Any:
    """Send the request again after `delay`, from a PRODUCER span of the same trace."""
    kwargs: dict[str, Any] = {
        "request": change.model_dump(mode="json"),
        "waits": waits,
        "replay": replay,
    }
    if tries:
        kwargs["tries"] = tries
    queue = region_queue(change.target.region)
    shown = f"{{'change_id': {change.change_id!r}, 'target': {change.target.id!r}}}"
    options: dict[str, Any] = {"argsrepr": "()", "kwargsrepr": shown}  # no secrets in a repr
    user_id = user_of(task.app)
    if user_id:  # the retried message names its sender, as every publish of ours does
        options["user_id"] = user_id
    with sending(
        RETRIES_EXCHANGE,
        str(task.request.id or ""),
        **{
            MESSAGING_ROUTING_KEY: change.target.routing_key,
            ATTR_CHANGE_ID: change.change_id,
            ATTR_TARGET: change.target.id,
            ATTR_REASON: str(tries[-1]["reason"]) if tries else "",
            "provision.backoff_s": delay,
        },
    ) as headers:
        # Under the change's own routing key: the worker may publish only its region's keys.
        return task.retry(
            kwargs=kwargs,
            countdown=delay,
            headers=headers or trace_headers(task),
            queue=queue,
            routing_key=change.target.routing_key,
            **options,
        )


def reject(
    task: Any,
    request: Any,
    reason: str,
    started: Any,
    attempts: int,
    change: ChangeRequest | None = None,
) -> str:
    """Dead-letter the original message with its reason, and report `rejected` if we can."""
    dead_letter(task, reason, attempts, change)
    change_id, target = identify(change, request)
    if change_id is not None and target is not None:
        event = outcome(
            change,
            OutcomeStatus.REJECTED,
            attempts,
            str(task.request.hostname or "worker"),
            started,
            error=ErrorInfo(type="RejectedRequest", message=reason, transient=False),
            dead_letter=reason,
            change_id=change_id,
            target=target,
        )
        routing_key = str((task.request.delivery_info or {}).get("routing_key") or "rejected")
        report(app, event, routing_key)
    return OutcomeStatus.REJECTED.value


def dead_letter(task: Any, reason: str, attempts: int, change: ChangeRequest | None = None) -> None:
    """Publish the original message (as first sent) to provision.dead with `reason`.

    A retry arrives straight from the queue, so the original exchange and routing key are
    the change's own, not the retry's delivery info.
    """
    delivery = task.request.delivery_info or {}
    routing_key = str(delivery.get("routing_key") or "")
    exchange = str(delivery.get("exchange") or CHANGES_EXCHANGE)
    if change is not None:
        exchange, routing_key = CHANGES_EXCHANGE, change.target.routing_key
    # The headers a replay needs to pass admission again: a task message, as the publisher made it.
    headers: dict[str, Any] = {"task": TASK_NAME, "id": task.request.id, "lang": "py"}
    headers.update(
        {k: getattr(task.request, k) for k in TRACE_HEADERS if getattr(task.request, k, None)}
    )
    kwargs = dict(task.request.kwargs or {})
    kwargs.pop("waits", None)
    kwargs.pop("replay", None)
    kwargs.pop("tries", None)
    dead_letters.dead_letter(
        kombu_send(app),
        body=[list(task.request.args or []), kwargs, EMPTY_EMBED],
        headers=headers,
        reason=reason,
        source=routing_key,
        exchange=exchange,
        routing_key=routing_key,
        attempts=attempts,
    )


def identify(change: ChangeRequest | None, request: Any) -> tuple[str | None, str | None]:
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


def trace_headers(task: Any) -> dict[str, Any]:
    """The W3C trace context the message carried, to pass on."""
    return {k: getattr(task.request, k) for k in TRACE_HEADERS if getattr(task.request, k, None)}
