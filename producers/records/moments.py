"""Moments: what one change's timeline is told in, and how one recorded outcome is told.

A `Moment` is one thing that happened to a change or one of its targets, with a one-line
detail for humans. `outcome_moments` tells one outcome the aggregator recorded as what the
worker saw: each earlier try with its reason and backoff, the resources applied, a dead
letter's reason, then the outcome itself. `timeline` puts these together with the rest of
the records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from contracts import OutcomeStatus
from contracts.outcomes import OutcomeEvent, ResourceStatus
from producers.store.outcomes import Stored

#: Every kind of moment, in the order two moments at the same instant are told.
KINDS = (
    "received",
    "refused",
    "admitted",
    "planned",
    "wave_started",
    "published",
    "received_by_worker",
    "readiness",
    "retry",
    "applied",
    "superseded",
    "dead_lettered",
    "outcome",
    "wave_halted",
    "wave_completed",
    "rollout_paused",
    "rollout_resumed",
    "rollout_aborted",
    "rollout_completed",
)
#: A kind's place in KINDS, by which moments at the same instant are sorted.
RANK = {kind: index for index, kind in enumerate(KINDS)}


@dataclass(frozen=True)
class Moment:
    """One thing that happened to a change (or to one of its targets)."""

    time: datetime  # aware, UTC
    kind: str  # one of KINDS
    target: str | None
    detail: str  # one line for humans

    def as_json(self) -> dict[str, str | None]:
        return {
            "time": self.time.isoformat(),
            "kind": self.kind,
            "target": self.target,
            "detail": self.detail,
        }


def utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def one_line(text: str, limit: int = 300) -> str:
    """One printable line: senders write these (error messages), so no control character
    (an escape sequence for the terminal) survives."""
    flat = "".join(c if c.isprintable() else "\ufffd" for c in " ".join(text.split()))
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _waited(seconds: float | None) -> str:
    return "queue wait unknown" if seconds is None else f"waited {seconds:.2f}s in queue"


def outcome_moments(record: Stored) -> list[Moment]:
    """One recorded outcome told as what the worker saw: each try, then the final one."""
    e = record.event
    moments: list[Moment] = []
    for r in e.retries:
        if r.received_at is not None:
            detail = f"by {r.worker}, attempt {r.attempt}, {_waited(r.queue_wait_s)}"
            moments.append(Moment(utc(r.received_at), "received_by_worker", e.target, detail))
        kind = "readiness" if r.reason.startswith("NotReady") else "retry"
        what = "waiting" if r.kind == "wait" else f"attempt {r.attempt} failed"
        detail = one_line(f"{what}: {r.reason}; retry in {r.backoff_s:.2f}s")
        moments.append(Moment(utc(r.at), kind, e.target, detail))
    again = ", redelivered" if e.redelivered else ""
    detail = f"by {e.worker}, attempt {e.attempts}, {_waited(e.queue_wait_s)}{again}"
    moments.append(Moment(utc(e.started_at), "received_by_worker", e.target, detail))
    finished = utc(e.finished_at)
    moments += _applied(e, finished)
    if e.status == OutcomeStatus.SUPERSEDED:
        why = e.error.message if e.error else "a newer request was already applied"
        moments.append(Moment(finished, "superseded", e.target, one_line(why)))
    dead = e.dead_letter or (
        e.error.message if e.status == OutcomeStatus.REJECTED and e.error else None
    )
    if dead:
        moments.append(Moment(finished, "dead_lettered", e.target, one_line(dead)))
    moments.append(Moment(utc(record.received_at), "outcome", e.target, _outcome_line(e)))
    return moments


def _applied(e: OutcomeEvent, at: datetime) -> list[Moment]:
    """Readiness evidence of a not-ready outcome, or what each resource came to."""
    if e.status == OutcomeStatus.NOT_READY:
        evidence = e.error.message if e.error else "a readiness check failed"
        return [Moment(at, "readiness", e.target, one_line(f"not ready: {evidence}"))]
    shown = [r for r in e.resources if r.status != ResourceStatus.CONVERGED]
    lines = [f"{r.kind} {r.path}: {r.status.value} {r.summary}" for r in shown]
    moments = [Moment(at, "applied", e.target, one_line(line)) for line in lines]
    kept = len(e.resources) - len(shown)
    if kept:
        moments.append(Moment(at, "applied", e.target, f"{kept} resource(s) already converged"))
    return moments


def _outcome_line(e: OutcomeEvent) -> str:
    words = [e.status.value, f"(attempt {e.attempts}, {e.worker})"]
    if e.error is not None:
        words.append(f"{e.error.type}: {e.error.message}")
    if e.trace_id:
        words.append(f"trace {e.trace_id}")
    return one_line(" ".join(words))
