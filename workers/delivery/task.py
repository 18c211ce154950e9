"""The one task: a change request in, the engine run at most once in effect, an outcome out.

Thin on purpose: validation is the contract's, convergence the engine's, idempotency the
guard's and the journal's, publishing the reporter's. What this module decides is the
fate of each request: dead letter (bad, expired, poison, out of attempts), a wait or a
retry with backoff (transient), superseded (older than what the target applied), or an
outcome recorded once and re-published on every redelivery. `fate.py` carries out all but
the last two; `attempt.py` is what runs under the target's lock.
"""

from __future__ import annotations

from typing import Any

from celery.utils.log import get_task_logger
from pydantic import ValidationError

from contracts import ChangeRequest, ContractError, OutcomeEvent
from contracts.changes import TASK_NAME, utcnow
from contracts.dead import REPLAY
from contracts.telemetry import (
    ATTR_ATTEMPT,
    ATTR_CHANGE_ID,
    ATTR_QUEUE_WAIT,
    ATTR_REASON,
    ATTR_REGION,
    ATTR_STATUS,
    ATTR_TARGET,
    MESSAGING_OPERATION,
    MESSAGING_REDELIVERED,
    messaging,
    setup_tracing,
    span_from,
)
from workers.delivery import metrics, receipt
from workers.delivery.app import app
from workers.delivery.attempt import converge_once
from workers.delivery.fate import reject, report_or_requeue, retry_or_fail, trace_headers, wait
from workers.delivery.guard import MAX_DELIVERIES, LockBusy, ServiceUnavailable, guard
from workers.engine.convergence import Convergence
from workers.engine.hosts import Host, NotAllowed, TargetError, connect
from workers.engine.hosts.allow import installed
from workers.engine.target_lock import TargetLocked, held

log = get_task_logger("provision.tasks")


@app.task(name=TASK_NAME, bind=True, max_retries=None)
def converge_task(
    self: Any,
    request: Any = None,
    waits: int = 0,
    replay: str | None = None,
    tries: Any = None,
    **unexpected: Any,
) -> str:
    """Converge one target to its desired state, at most once in effect, and report it,
    in a CONSUMER span of the request's trace (one per try).

    Args:
        request: The ChangeRequest, as JSON.
        waits: Retries so far that waited for a lock or for Redis (not engine attempts).
        replay: The replay id `provision dlq replay` gave the message, carried on retries.
        tries: The earlier tries of this request (`contracts.outcomes.Retry`, as JSON).
    """
    setup_tracing("provision-worker")
    started = utcnow()
    retries = int(self.request.retries or 0)
    attempts = retries - waits + 1
    replay = replay or getattr(self.request, REPLAY, None)
    headers = trace_headers(self)
    redelivered = bool((self.request.delivery_info or {}).get("redelivered"))
    worker = str(self.request.hostname or "worker")
    receipt.begin(receipt.Receipt(worker, started, redelivered=redelivered))
    queue = str(self.app.conf.task_default_queue or "provision.changes")
    attributes = messaging(
        queue,
        str(self.request.id or ""),
        **{MESSAGING_OPERATION: "process", MESSAGING_REDELIVERED: redelivered},
        **{ATTR_ATTEMPT: attempts},
    )
    with span_from(headers, f"process {queue}", attributes=attributes) as span:
        try:
            if unexpected:
                names = sorted(unexpected)
                raise ContractError("task", [(name, "unexpected argument") for name in names])
            change = ChangeRequest.model_validate(request)
            earlier = receipt.parse_tries(tries)
        except (ValidationError, ContractError) as exc:
            problem = (
                exc
                if isinstance(exc, ContractError)
                else ContractError.from_validation("change request", exc)
            )
            return reject(self, request, f"invalid change request: {problem}", started, attempts)
        sent = receipt.due_at(getattr(self.request, "eta", None)) if retries else None
        if sent is None and not retries and not replay:
            sent = change.issued_at
        waited = receipt.queue_wait(started, sent)
        receipt.begin(receipt.Receipt(worker, started, waited, redelivered, earlier))
        span.set_attributes(
            {
                ATTR_CHANGE_ID: change.change_id,
                ATTR_TARGET: change.target.id,
                ATTR_REGION: change.target.region,
            }
        )
        if waited is not None:
            span.set_attribute(ATTR_QUEUE_WAIT, waited)
        if earlier:
            span.set_attribute(ATTR_REASON, earlier[-1].reason)
        elif redelivered:
            span.set_attribute(ATTR_REASON, "redelivered: its worker died or lost the broker")
        metrics.received(change, self.request)
        host, refused = _reach(change)
        if refused is not None:  # before Redis and the target: nothing is touched
            status = reject(self, request, refused, started, attempts, change)
        else:
            try:
                status = _deliver(
                    self, change, request, host, started, attempts, waits, retries, replay
                )
            finally:
                if host is not None:
                    host.close()
        span.set_attribute(ATTR_STATUS, status)
        return status


def _deliver(
    self: Any,
    change: ChangeRequest,
    request: Any,
    host: Host | None,
    started: Any,
    attempts: int,
    waits: int,
    retries: int,
    replay: str | None,
) -> str:
    """Guard, lock, converge once and report, on the target opened for this request."""
    try:
        begun = guard().begin(
            str(self.request.id),
            f"{retries}:{replay or 0}",
            change.change_id,
            change.target.id,
            lock=change.expires_at > started,
        )
        starts = begun.starts
        if starts > MAX_DELIVERIES:
            reason = (
                f"poison: started {starts} times without finishing (its worker died or "
                f"lost the broker each time; the limit is {MAX_DELIVERIES})"
            )
            return reject(self, request, reason, started, attempts, change)
        if change.expires_at <= started:
            reason = f"expired at {change.expires_at.isoformat()}"
            return reject(self, request, reason, started, attempts, change)
        event: OutcomeEvent | Convergence | None = begun.recorded
        dry = change.dry_run
        if event is None:
            if begun.token is None:
                raise LockBusy(f"target {change.target.id} is being converged by another")
            # The flock on the target also keeps agents out, and outlives a Redis flush.
            lock = guard().lock(change.target.id, begun.token)
            with lock, held(change.target, create=not dry, host=host):
                event = converge_once(self, change, host, started, attempts, begun.fence)
    except (LockBusy, TargetLocked, ServiceUnavailable) as exc:
        return wait(self, change, exc, started, attempts, waits, replay)
    if isinstance(event, Convergence):
        return retry_or_fail(self, change, event, started, attempts, waits, replay)
    report_or_requeue(event, change)
    return event.status.value


def _reach(change: ChangeRequest) -> tuple[Host | None, str | None]:
    """The request's target, opened once for the whole request (allow check, lock,
    journal, engine), or why this worker may not converge it: the root is the worker's
    to choose (its allow rule), never the message's.

    No host and no reason means allowed but no usable root: the engine reports why.
    """
    if installed() is None:  # fail closed: a pool child without the rule serves nothing
        return None, "not allowed: this worker has no allow rule (--allow)"
    try:  # the address, then the real directory it opens (a link out of an allowed root)
        return connect(change.target), None
    except NotAllowed as exc:
        return None, f"not allowed: {exc}"
    except TargetError:
        return None, None
