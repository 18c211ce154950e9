"""The one task: a change request in, the engine run, an outcome event out.

Thin on purpose: validation is the contract's, convergence the engine's, publishing the
reporter's. What this module decides is what happens to a request that is bad (dead
letter, `rejected`), not ready yet or hit a transient error (retry with backoff within its
deadline), or done (outcome).
"""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from broker_config import CHANGES_EXCHANGE
from contracts import ChangeRequest, ContractError, ErrorInfo, OutcomeEvent, OutcomeStatus
from contracts.changes import TASK_NAME, utcnow
from contracts.telemetry import (
    ATTR_CHANGE_ID,
    ATTR_TARGET,
    current_trace_id,
    setup_tracing,
    span_from,
)
from workers.app import app
from workers.engine import converge
from workers.report import dead_letter, report

#: Attempts before a transient failure becomes the final outcome.
MAX_ATTEMPTS = 5
#: Exponential backoff with full jitter: delay = random(0, min(cap, base * 2**n)).
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 60.0

EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def backoff_s(attempt: int) -> float:
    """The delay before retry number `attempt` (1-based), with full jitter."""
    return random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt))


def _retryable(status: OutcomeStatus, error: ErrorInfo | None) -> bool:
    return status == OutcomeStatus.NOT_READY or (
        status == OutcomeStatus.FAILED and error is not None and error.transient
    )


@app.task(name=TASK_NAME, bind=True, max_retries=None)
def converge_task(self: Any, request: Any = None, **unexpected: Any) -> str:
    """Converge one target to its desired state and report the outcome."""
    setup_tracing("provision-worker")
    started = utcnow()
    attempts = int(self.request.retries or 0) + 1
    headers = {k: getattr(self.request, k, None) for k in ("traceparent", "tracestate")}
    headers = {k: v for k, v in headers.items() if v}
    with span_from(headers, "provision.converge") as span:
        try:
            if unexpected:
                raise ContractError(
                    "task", [(name, "unexpected argument") for name in sorted(unexpected)]
                )
            change = ChangeRequest.model_validate(request)
        except (ValidationError, ContractError) as exc:
            problem = (
                exc
                if isinstance(exc, ContractError)
                else ContractError.from_validation("change request", exc)
            )
            _reject(self, request, f"invalid change request: {problem}", started, attempts)
            return OutcomeStatus.REJECTED.value
        span.set_attribute(ATTR_CHANGE_ID, change.change_id)
        span.set_attribute(ATTR_TARGET, change.target.id)
        if change.expires_at <= started:
            _reject(
                self,
                request,
                f"expired at {change.expires_at.isoformat()}",
                started,
                attempts,
                change=change,
            )
            return OutcomeStatus.REJECTED.value

        result = converge(change.target, change.desired, dry_run=change.dry_run)
        if _retryable(result.status, result.error) and attempts < MAX_ATTEMPTS:
            delay = backoff_s(attempts)
            if utcnow() + timedelta(seconds=delay) < change.expires_at:
                raise self.retry(countdown=delay)
        event = OutcomeEvent(
            event_id=str(uuid.uuid4()),
            change_id=change.change_id,
            target=change.target.id,
            status=result.status,
            resources=result.resources,
            error=result.error,
            attempts=attempts,
            worker=str(self.request.hostname or "worker"),
            started_at=started,
            finished_at=utcnow(),
            trace_id=current_trace_id(),
            dry_run=change.dry_run,
        )
        report(app, event, change.target.routing_key)
        return event.status.value


def _reject(
    task: Any,
    request: Any,
    reason: str,
    started: Any,
    attempts: int,
    change: ChangeRequest | None = None,
) -> None:
    """Dead-letter the original message with its reason, and report `rejected` if we can."""
    delivery = task.request.delivery_info or {}
    routing_key = str(delivery.get("routing_key") or "")
    headers = {"task": TASK_NAME, "id": task.request.id}
    for name in ("traceparent", "tracestate"):
        if getattr(task.request, name, None):
            headers[name] = getattr(task.request, name)
    dead_letter(
        app,
        body=[list(task.request.args or []), dict(task.request.kwargs or {}), EMBED],
        headers=headers,
        reason=reason,
        source=str(delivery.get("routing_key", "")),
        exchange=str(delivery.get("exchange") or CHANGES_EXCHANGE),
        routing_key=routing_key,
        attempts=attempts,
    )
    change_id, target = _identify(change, request)
    if change_id is None or target is None:
        return
    report(
        app,
        OutcomeEvent(
            event_id=str(uuid.uuid4()),
            change_id=change_id,
            target=target,
            status=OutcomeStatus.REJECTED,
            error=ErrorInfo(type="RejectedRequest", message=reason, transient=False),
            attempts=attempts,
            worker=str(task.request.hostname or "worker"),
            started_at=started,
            finished_at=utcnow(),
            trace_id=current_trace_id(),
        ),
        routing_key or "rejected",
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
