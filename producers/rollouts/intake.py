"""Intake: a change event's JSON in, a planned rollout (or a recorded rejection) out.

Shared by the controller (events from other services) and `provision apply` (which checks
an event the same way before publishing it), so both refuse the same things with the same
words.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from contracts import ChangeFile, ContractError, Target, limits
from contracts.changes import utcnow
from contracts.events import ChangeEvent
from producers.errors import SelectionError
from producers.rollouts.direct import select
from producers.rollouts.planner import RolloutPlan, plan_rollout
from producers.truth.errors import UnknownRevision
from producers.truth.revisions import RevisionStore


class Refusal(Exception):
    """An event the controller will not roll out, with the reason recorded for its emitter."""

    def __init__(self, reason: str, change_id: str | None, raw: Any = None) -> None:
        self.reason = reason
        self.change_id = change_id
        self.raw = raw
        super().__init__(reason)


def parse_event(body: bytes) -> ChangeEvent:
    """Validate a change event; Refusal names the field and reason (and the id, if any)."""
    try:
        limits.check_json("change event", body, limits.EVENT_BYTES, "EVENT_BYTES")
    except limits.LimitExceeded as exc:
        raise Refusal(str(exc), None) from exc
    try:
        raw = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise Refusal(f"not JSON: {exc}"[:500], None) from exc
    change_id = _claimed_id(raw.get("event_id") if isinstance(raw, dict) else None)
    try:
        return ChangeEvent.model_validate(raw)
    except ValidationError as exc:
        problem = ContractError.from_validation("change event", exc)
        raise Refusal(str(problem), change_id, raw) from exc


def claimed_id(body: bytes) -> str | None:
    """The event id a body claims, read only if the body is within the limits: what a refusal
    made before parsing (a bad signature, say) is recorded under."""
    try:
        limits.check_json("change event", body, limits.EVENT_BYTES, "EVENT_BYTES")
        raw = json.loads(body)
    except (limits.LimitExceeded, ValueError, RecursionError):
        return None
    return _claimed_id(raw.get("event_id") if isinstance(raw, dict) else None)


def _claimed_id(value: Any) -> str | None:
    """The id a refused event claims, if it is one (a UUID): only then is the refusal
    recorded under it, so a hostile id never becomes a key or a name `rollout status` finds."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


@dataclass(frozen=True)
class Admission:
    """A planned event: its targets, its waves, and the revision it rolls out (if any)."""

    targets: list[Target]
    plan: RolloutPlan
    #: The revision named by the event, or the latest one an inline push will layer on.
    revision: int | None


def plan_event(
    event: ChangeEvent,
    inventory: Callable[[], list[Target]],
    regions_exist: Callable[[Iterable[str]], None],
    truth: RevisionStore | None = None,
) -> Admission:
    """Select, check and plan; Refusal for no target, an unknown region or revision,
    impossible waves, or pull targets without a source of truth.

    The fleet is the event's inline `targets` if it has them, else the inventory of the
    source of truth (the named revision, or the latest), else the inventory on record.
    """
    change_id = event.change_id
    if event.deadline is not None and event.deadline <= utcnow():
        raise Refusal(f"deadline {event.deadline.isoformat()} has passed", change_id)
    horizon = limits.DEADLINE_HORIZON_S
    if event.deadline is not None and (event.deadline - utcnow()).total_seconds() > horizon:
        raise Refusal(
            f"deadline {event.deadline.isoformat()} is more than {horizon:g}s ahead, the limit "
            f"{limits.limit('DEADLINE_HORIZON_S').env}",
            change_id,
        )
    latest = truth.latest_number() if truth is not None else 0
    revision = event.revision if event.revision is not None else None
    try:
        if revision is not None:
            if event.targets is not None:
                raise Refusal(
                    "an inline fleet (targets) cannot be combined with a revision: "
                    "the revision's inventory is the fleet",
                    change_id,
                )
            if truth is None:
                raise UnknownRevision("no source of truth is published")
            fleet = truth.bundle(truth.resolve(revision)).inventory.targets
        elif event.targets is not None:
            fleet = tuple(event.targets)
        elif latest:
            revision = latest
            fleet = truth.bundle(latest).inventory.targets  # type: ignore[union-attr]
        else:
            fleet = tuple(inventory())
        chosen = select(fleet, event.selector)
        if len(chosen) > limits.TARGETS_PER_EVENT:
            limit = limits.limit("TARGETS_PER_EVENT").env
            raise Refusal(
                f"the event selects {len(chosen)} targets, more than the limit "
                f"{limit}={limits.TARGETS_PER_EVENT}",
                change_id,
            )
        plan = plan_rollout(chosen, event.rollout)
        regions_exist(t.region for t in chosen if t.delivery == "push")
    except (SelectionError, UnknownRevision) as exc:
        raise Refusal(str(exc), change_id) from exc
    pulling = sorted(t.id for t in chosen if t.delivery == "pull")
    if pulling and revision is None:
        raise Refusal(
            f"pull targets ({', '.join(pulling[:5])}) take their state from the "
            "source of truth: publish one with `provision state publish`",
            change_id,
        )
    return Admission(chosen, plan, revision)


def event_from_file(change: ChangeFile, *, issued_by: str, dry_run: bool = False) -> ChangeEvent:
    """The change event `provision apply` publishes for a change file, issued now."""
    return ChangeEvent(
        event_id=uuid.uuid4(),
        issued_by=issued_by,
        issued_at=utcnow(),
        selector=change.selector,
        resources=change.resources,
        revision=change.revision,
        rollout=change.rollout,
        deadline=change.deadline,
        dry_run=dry_run,
        targets=change.targets,
    )
