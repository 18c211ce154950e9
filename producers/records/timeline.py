"""What happened to one change, moment by moment, from the system's own records.

On-call woken by a failed rollout asks "what happened to web-7?". The answer is already in
PostgreSQL, written for other reasons: the ledger (who asked, when), the rollout book (its
plan, every state it went through, when each request was published), intake's refusals,
and every outcome the aggregator recorded (which worker, which attempt, how long the
message waited, each earlier try with its reason and backoff, the resources applied, a
dead letter's reason). `timeline` reads them together into `Moment`s, oldest first, so no
tracing backend is needed. How one outcome is told is `moments`'; the failed targets
grouped by reason are `failures`'.
"""

from __future__ import annotations

from datetime import datetime

from contracts.events import RolloutState
from producers.errors import AmbiguousChange, UnknownChange
from producers.records.moments import KINDS, RANK, Moment, one_line, outcome_moments, utc
from producers.store import refusals, rollout_status, trail
from producers.store import rollouts as books
from producers.store.database import Database
from producers.store.outcomes import FAILURES, Stored

#: Rollout states an operator (or the driver) moves to, as moment kinds.
_STATE_KINDS = {
    RolloutState.PAUSED: "rollout_paused",
    RolloutState.ABORTED: "rollout_aborted",
    RolloutState.COMPLETED: "rollout_completed",
}


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
            Moment(utc(head.created_at), "received", None, f"from {issuer or 'an unknown sender'}")
        )
    elif opened is not None:
        moments.append(Moment(utc(opened.issued_at), "received", None, f"from {opened.issued_by}"))
        moments.append(Moment(utc(opened.opened_at), "admitted", None, "booked in the ledger"))
    if refused is not None:
        shown = f"{refused.reason} (from {refused.source}, {refused.size} bytes)"
        moments.append(Moment(utc(refused.last_seen), "refused", None, one_line(shown)))
    moments += _rollout_moments(transitions, plan, stored, target)
    moments += _direct_publications(opened, head, stored, target)
    for record in stored:
        moments += outcome_moments(record)
    return sorted(moments, key=lambda m: (m.time, RANK.get(m.kind, len(KINDS))))


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
        at = utc(t.at)
        if t.to_state == RolloutState.REJECTED:
            moments.append(Moment(at, "refused", None, one_line(t.reason)))
        elif t.to_state == RolloutState.PLANNED:
            sizes = ", ".join(str(len(waves[w])) for w in sorted(waves))
            moments.append(Moment(at, "admitted", None, "validated and accepted"))
            detail = f"{len(plan)} target(s) in {len(waves)} wave(s): {sizes}"
            moments.append(Moment(at, "planned", None, detail))
        elif t.to_state == RolloutState.HALTED:
            wave = _wave_at(waves, t.at)
            label = f"wave {wave + 1} halted" if wave is not None else "halted"
            moments.append(Moment(at, "wave_halted", None, one_line(f"{label}: {t.reason}")))
        elif t.to_state == RolloutState.RUNNING and t.from_state == RolloutState.PAUSED:
            moments.append(Moment(at, "rollout_resumed", None, one_line(t.reason or "resumed")))
        elif t.to_state in _STATE_KINDS:
            detail = one_line(t.reason or t.to_state.value)
            moments.append(Moment(at, _STATE_KINDS[t.to_state], None, detail))
    current = _current(stored)
    for wave, members in sorted(waves.items()):
        if target is not None and wave not in mine:
            continue
        times = [p.published_at for p in members if p.published_at is not None]
        if not times:
            continue
        started = f"wave {wave + 1}: {len(members)} target(s)"
        moments.append(Moment(utc(min(times)), "wave_started", None, started))
        heard = [current[p.target] for p in members if p.target in current]
        if target is None and len(heard) == len(members):
            failed = sum(1 for s in heard if s.event.status in FAILURES)
            detail = f"wave {wave + 1}: {len(members)} outcome(s), {failed} failed"
            moments.append(
                Moment(utc(max(s.received_at for s in heard)), "wave_completed", None, detail)
            )
        for p in members:
            if p.published_at is not None and (target is None or p.target == target):
                detail = f"request published (wave {wave + 1})"
                moments.append(Moment(utc(p.published_at), "published", p.target, detail))
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
    return [Moment(utc(opened.opened_at), "published", t, "request published") for t in targets]
