"""One attempt under the target's lock: the outcome already recorded, superseded, or one
engine run, recorded on the target (its journal, the truth) before Redis (the fast path).

The task (`task.py`) decides every other fate of a request; this is the part that may touch
the target, and it runs only once the guard has let the request in and the lock is held.
"""

from __future__ import annotations

import contextlib
from typing import Any

from contracts import ChangeRequest, ErrorInfo, OutcomeEvent, OutcomeStatus
from workers.delivery import metrics
from workers.delivery.guard import guard
from workers.delivery.report import outcome
from workers.delivery.retry import is_transient
from workers.engine.convergence import Convergence, converge
from workers.engine.hosts import Host, TargetError
from workers.engine.journal import Journal


def converge_once(
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
