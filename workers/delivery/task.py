"""The one task: a change request in, the engine run at most once in effect, an outcome out.

Thin on purpose: validation is the contract's, convergence the engine's, idempotency the
guard's and the journal's, publishing the reporter's. What this module decides is the
fate of each request: dead letter (bad, expired, poison, out of attempts), a wait or a
retry with backoff (transient), superseded (older than what the target applied), or an
outcome recorded once and re-published on every redelivery. `fate.py` carries out all but
the last two.
"""

from __future__ import annotations

import contextlib
from typing import Any

from celery.utils.log import get_task_logger
from pydantic import ValidationError

from contracts import ChangeRequest, ContractError, ErrorInfo, OutcomeEvent, OutcomeStatus
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
from workers.delivery.fate import reject, report_or_requeue, retry_or_fail, trace_headers, wait
from workers.delivery.guard import MAX_DELIVERIES, LockBusy, ServiceUnavailable, guard
from workers.delivery.report import outcome
from workers.delivery.retry import is_transient
from workers.engine.convergence import Convergence, converge
from workers.engine.hosts import Host, NotAllowed, TargetError, connect
from workers.engine.hosts.allow import installed
from workers.engine.journal import Journal
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
                event = _converge_once(self, change, host, started, attempts, begun.fence)
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


def _converge_once(
    task: Any,
    change: ChangeRequest,
    host: Host | None,
    started: Any,
    attempts: int,
    fenced: int | None,
) -> OutcomeEvent | Convergence:
    """Under the target's lock: the recorded outcome, superseded, or one engine run.

    Returns a Convergence (not an event) when the run failed transiently: nothing is
    recorded then, so the retry converges again.
    """
    journal = Journal(change.target, host)
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
    with metrics.converging():
        result = converge(change.target, change.desired, dry_run=change.dry_run, host=host)
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
