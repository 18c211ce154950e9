"""What happened to one change, moment by moment, from the system's own records.

On-call woken by a failed rollout asks "what happened to web-7?". The answer is already in
PostgreSQL, written for other reasons: the ledger (who asked, when), the rollout book (its
plan, every state it went through, when each request was published), intake's refusals,
and every outcome the aggregator recorded (which worker, which attempt, how long the
message waited, each earlier try with its reason and backoff, the resources applied, a
dead letter's reason). `timeline` reads them together into `Moment`s, oldest first, so no
tracing backend is needed; `failed_by_reason` groups the failed targets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from contracts import OutcomeStatus
from contracts.events import RolloutState
from contracts.outcomes import OutcomeEvent, ResourceStatus
from producers.errors import AmbiguousChange, UnknownChange
from producers.store import outcomes, refusals, rollout_status, trail
from producers.store import rollouts as books
from producers.store.database import Database
from producers.store.outcomes import FAILURES, Stored

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
_RANK = {kind: index for index, kind in enumerate(KINDS)}
#: Rollout states an operator (or the driver) moves to, as moment kinds.
_STATE_KINDS = {
    RolloutState.PAUSED: "rollout_paused",
    RolloutState.ABORTED: "rollout_aborted",
    RolloutState.COMPLETED: "rollout_completed",
}


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


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _one_line(text: str, limit: int = 300) -> str:
    """One printable line: senders write these (error messages), so no control character
    (an escape sequence for the terminal) survives."""
    flat = "".join(c if c.isprintable() else "\ufffd" for c in " ".join(text.split()))
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _waited(seconds: float | None) -> str:
    return "queue wait unknown" if seconds is None else f"waited {seconds:.2f}s in queue"


def resolve_change_id(db: Database, text: str) -> str:
    """The full change id that `text` is, or is the unique prefix of (as git does).

    Raises AmbiguousChange naming the matching ids, or UnknownChange ("no change matches").
    """
    wanted = text.strip()
    if not wanted:
        raise UnknownChange("no change matches an empty id")
    with db.connection() as conn:
        found, total = trail.ids_starting(conn, wanted)
    if total == 1:
        return found[0]
    if total == 0:
        raise UnknownChange(f"no change matches {wanted!r}")
    raise AmbiguousChange(wanted, found, total)


def timeline(db: Database, change_id: str, *, target: str | None = None) -> list[Moment]:
    """Every moment of the change, oldest first; with `target`, the change's own moments
    (received, planned, its wave, halts) and that target's. Empty for an unknown id."""
    with db.connection() as conn:
        opened = trail.opened(conn, change_id)
        head = rollout_status.head(conn, change_id)
        transitions = books.transitions(conn, change_id) if head is not None else []
        refused = (
            refusals.rejected_event(conn, change_id)
            if head is not None and head.state == RolloutState.REJECTED
            else None
        )
        plan = trail.publications(conn, change_id) if head is not None else []
        stored = trail.outcomes_of(conn, change_id, target)
    moments: list[Moment] = []
    issuer = (head.issued_by if head else None) or (opened.issued_by if opened else None)
    if head is not None:
        moments.append(
            Moment(_utc(head.created_at), "received", None, f"from {issuer or 'an unknown sender'}")
        )
    elif opened is not None:
        moments.append(Moment(_utc(opened.issued_at), "received", None, f"from {opened.issued_by}"))
        moments.append(Moment(_utc(opened.opened_at), "admitted", None, "booked in the ledger"))
    if refused is not None:
        shown = f"{refused.reason} (from {refused.source}, {refused.size} bytes)"
        moments.append(Moment(_utc(refused.last_seen), "refused", None, _one_line(shown)))
    moments += _rollout_moments(transitions, plan, stored, target)
    moments += _direct_publications(opened, head, stored, target)
    for record in stored:
        moments += _outcome_moments(record)
    return sorted(moments, key=lambda m: (m.time, _RANK.get(m.kind, len(KINDS))))


def _rollout_moments(
    transitions: list[books.Transition],
    plan: list[trail.Publication],
    stored: list[Stored],
    target: str | None,
) -> list[Moment]:
    """Admission, plan, waves and state changes of a rollout, and its publications."""
    moments: list[Moment] = []
    waves: dict[int, list[trail.Publication]] = {}
    for p in plan:
        waves.setdefault(p.wave, []).append(p)
    mine = {p.wave for p in plan if p.target == target}
    for t in transitions:
        at = _utc(t.at)
        if t.to_state == RolloutState.REJECTED:
            moments.append(Moment(at, "refused", None, _one_line(t.reason)))
        elif t.to_state == RolloutState.PLANNED:
            sizes = ", ".join(str(len(waves[w])) for w in sorted(waves))
            moments.append(Moment(at, "admitted", None, "validated and accepted"))
            detail = f"{len(plan)} target(s) in {len(waves)} wave(s): {sizes}"
            moments.append(Moment(at, "planned", None, detail))
        elif t.to_state == RolloutState.HALTED:
            wave = _wave_at(waves, t.at)
            label = f"wave {wave + 1} halted" if wave is not None else "halted"
            moments.append(Moment(at, "wave_halted", None, _one_line(f"{label}: {t.reason}")))
        elif t.to_state == RolloutState.RUNNING and t.from_state == RolloutState.PAUSED:
            moments.append(Moment(at, "rollout_resumed", None, _one_line(t.reason or "resumed")))
        elif t.to_state in _STATE_KINDS:
            detail = _one_line(t.reason or t.to_state.value)
            moments.append(Moment(at, _STATE_KINDS[t.to_state], None, detail))
    current = _current(stored)
    for wave, members in sorted(waves.items()):
        if target is not None and wave not in mine:
            continue
        times = [p.published_at for p in members if p.published_at is not None]
        if not times:
            continue
        started = f"wave {wave + 1}: {len(members)} target(s)"
        moments.append(Moment(_utc(min(times)), "wave_started", None, started))
        heard = [current[p.target] for p in members if p.target in current]
        if target is None and len(heard) == len(members):
            failed = sum(1 for s in heard if s.event.status in FAILURES)
            detail = f"wave {wave + 1}: {len(members)} outcome(s), {failed} failed"
            moments.append(
                Moment(_utc(max(s.received_at for s in heard)), "wave_completed", None, detail)
            )
        for p in members:
            if p.published_at is not None and (target is None or p.target == target):
                detail = f"request published (wave {wave + 1})"
                moments.append(Moment(_utc(p.published_at), "published", p.target, detail))
    return moments


def _wave_at(waves: dict[int, list[trail.Publication]], at: datetime) -> int | None:
    """The last wave that had begun publishing at `at`."""
    begun = [
        w
        for w, members in waves.items()
        if any(p.published_at is not None and p.published_at <= at for p in members)
    ]
    return max(begun) if begun else None


def _current(stored: list[Stored]) -> dict[str, Stored]:
    """Each target's current outcome, by the store's own order (sequence, then receipt)."""
    best: dict[str, Stored] = {}
    for s in stored:
        key = (s.sequence is not None, s.sequence or 0, s.received_at)
        held = best.get(s.event.target)
        if held is None or key >= (held.sequence is not None, held.sequence or 0, held.received_at):
            best[s.event.target] = s
    return best


def _direct_publications(
    opened: trail.Opened | None,
    head: rollout_status.Head | None,
    stored: list[Stored],
    target: str | None,
) -> list[Moment]:
    """A change published directly (`provision apply --direct`) has no rollout book: its
    requests went out right after it was booked."""
    if head is not None or opened is None:
        return []
    targets = sorted({s.event.target for s in stored} | ({target} if target else set()))
    return [Moment(_utc(opened.opened_at), "published", t, "request published") for t in targets]


def _outcome_moments(record: Stored) -> list[Moment]:
    """One recorded outcome told as what the worker saw: each try, then the final one."""
    e = record.event
    moments: list[Moment] = []
    for r in e.retries:
        if r.received_at is not None:
            detail = f"by {r.worker}, attempt {r.attempt}, {_waited(r.queue_wait_s)}"
            moments.append(Moment(_utc(r.received_at), "received_by_worker", e.target, detail))
        kind = "readiness" if r.reason.startswith("NotReady") else "retry"
        what = "waiting" if r.kind == "wait" else f"attempt {r.attempt} failed"
        detail = _one_line(f"{what}: {r.reason}; retry in {r.backoff_s:.2f}s")
        moments.append(Moment(_utc(r.at), kind, e.target, detail))
    again = ", redelivered" if e.redelivered else ""
    detail = f"by {e.worker}, attempt {e.attempts}, {_waited(e.queue_wait_s)}{again}"
    moments.append(Moment(_utc(e.started_at), "received_by_worker", e.target, detail))
    finished = _utc(e.finished_at)
    moments += _applied(e, finished)
    if e.status == OutcomeStatus.SUPERSEDED:
        why = e.error.message if e.error else "a newer request was already applied"
        moments.append(Moment(finished, "superseded", e.target, _one_line(why)))
    dead = e.dead_letter or (
        e.error.message if e.status == OutcomeStatus.REJECTED and e.error else None
    )
    if dead:
        moments.append(Moment(finished, "dead_lettered", e.target, _one_line(dead)))
    moments.append(Moment(_utc(record.received_at), "outcome", e.target, _outcome_line(e)))
    return moments


def _applied(e: OutcomeEvent, at: datetime) -> list[Moment]:
    """Readiness evidence of a not-ready outcome, or what each resource came to."""
    if e.status == OutcomeStatus.NOT_READY:
        evidence = e.error.message if e.error else "a readiness check failed"
        return [Moment(at, "readiness", e.target, _one_line(f"not ready: {evidence}"))]
    shown = [r for r in e.resources if r.status != ResourceStatus.CONVERGED]
    lines = [f"{r.kind} {r.path}: {r.status.value} {r.summary}" for r in shown]
    moments = [Moment(at, "applied", e.target, _one_line(line)) for line in lines]
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
    return _one_line(" ".join(words))


def reason_of(event: OutcomeEvent) -> str:
    """What a failed target's outcome failed of, in words shared by targets failing alike:
    its status and error (the target's own id taken out)."""
    if event.error is None:
        return event.status.value
    message = " ".join(event.error.message.split()).replace(event.target, "<target>")
    return _one_line(f"{event.status.value}: {event.error.type}: {message}", 200)


def failed_by_reason(db: Database, change_id: str) -> list[tuple[str, list[str]]]:
    """The change's targets whose current outcome failed, grouped by reason: most targets
    first, then by reason; targets sorted within a group."""
    groups: dict[str, list[str]] = {}
    with db.connection() as conn:
        for status in FAILURES:
            for s in outcomes.by_status(conn, change_id, status):
                groups.setdefault(reason_of(s.event), []).append(s.event.target)
    return sorted(
        ((reason, sorted(targets)) for reason, targets in groups.items()),
        key=lambda group: (-len(group[1]), group[0]),
    )
