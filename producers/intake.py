"""Intake: a change event's JSON in, a planned rollout (or a recorded rejection) out.

Shared by the controller (events from other services) and `provision apply` (which checks
an event the same way before publishing it), so both refuse the same things with the same
words.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import ValidationError

from contracts import ChangeFile, ContractError, Target
from contracts.changes import utcnow
from contracts.events import ChangeEvent
from producers.changes import select
from producers.errors import SelectionError
from producers.planner import RolloutPlan, plan_rollout


class Refusal(Exception):
    """An event the controller will not roll out, with the reason recorded for its emitter."""

    def __init__(self, reason: str, event_id: str | None, raw: Any = None) -> None:
        self.reason = reason
        self.event_id = event_id
        self.raw = raw
        super().__init__(reason)


def parse_event(body: bytes) -> ChangeEvent:
    """Validate a change event; Refusal names the field and reason (and the id, if any)."""
    try:
        raw = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Refusal(f"not JSON: {exc}", None) from exc
    event_id = raw.get("event_id") if isinstance(raw, dict) else None
    event_id = event_id if isinstance(event_id, str) and len(event_id) <= 64 else None
    try:
        return ChangeEvent.model_validate(raw)
    except ValidationError as exc:
        problem = ContractError.from_validation("change event", exc)
        raise Refusal(str(problem), event_id, raw) from exc


def plan_event(
    event: ChangeEvent,
    inventory: Callable[[], list[Target]],
    regions_exist: Callable[[Iterable[str]], None],
) -> tuple[list[Target], RolloutPlan]:
    """Select, check and plan; Refusal for no target, an unknown region, impossible waves."""
    rid = event.rollout_id
    if event.deadline is not None and event.deadline <= utcnow():
        raise Refusal(f"deadline {event.deadline.isoformat()} has passed", rid)
    fleet = tuple(event.targets) if event.targets is not None else tuple(inventory())
    try:
        chosen = select(fleet, event.selector)
        plan = plan_rollout(chosen, event.rollout)
        regions_exist(t.region for t in chosen)
    except SelectionError as exc:
        raise Refusal(str(exc), rid) from exc
    return chosen, plan


def event_from_file(change: ChangeFile, *, issued_by: str, dry_run: bool = False) -> ChangeEvent:
    """The change event `provision apply` publishes for a change file."""
    return ChangeEvent(
        event_id=uuid.uuid4(),
        issued_by=issued_by,
        selector=change.selector,
        resources=change.resources,
        rollout=change.rollout,
        deadline=change.deadline,
        dry_run=dry_run,
        targets=change.targets,
    )
