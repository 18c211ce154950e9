"""Small builders of contract objects for the store tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts import OutcomeEvent, OutcomeStatus, Target
from producers.store.outcomes import OutcomeRecord

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def target(name: str, **extra: Any) -> Target:
    fields: dict[str, Any] = {
        "id": name,
        "region": "eu",
        "environment": "prod",
        "address": f"local:///srv/{name}",
    }
    return Target.model_validate({**fields, **extra})


def outcome(
    target: str,
    status: OutcomeStatus = OutcomeStatus.CHANGED,
    *,
    change_id: str = "change-1",
    finished_at: datetime = T0,
    started_at: datetime | None = None,
    outcome_id: str | None = None,
    worker: str = "eu-1@test",
    **extra: Any,
) -> OutcomeEvent:
    """An outcome of `target`, started a second before it finished unless `started_at` says
    otherwise; any other field of the event from `extra`. The one outcome builder of the
    tests: the dashboard's and the timeline's build theirs with it."""
    fields: dict[str, Any] = {
        "outcome_id": outcome_id or uuid.uuid4().hex,
        "change_id": change_id,
        "target": target,
        "status": status,
        "worker": worker,
        "started_at": finished_at - timedelta(seconds=1) if started_at is None else started_at,
        "finished_at": finished_at,
    }
    return OutcomeEvent(**{**fields, **extra})


def received(
    event: OutcomeEvent, sequence: int | None, seconds: float, base: datetime = T0
) -> OutcomeRecord:
    """`event` as the aggregator received it `seconds` after `base`."""
    return OutcomeRecord(event, sequence, base + timedelta(seconds=seconds))
