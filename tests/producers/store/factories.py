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
    outcome_id: str | None = None,
    **extra: Any,
) -> OutcomeEvent:
    fields: dict[str, Any] = {
        "outcome_id": outcome_id or uuid.uuid4().hex,
        "change_id": change_id,
        "target": target,
        "status": status,
        "worker": "eu-1@test",
        "started_at": finished_at - timedelta(seconds=1),
        "finished_at": finished_at,
    }
    return OutcomeEvent(**{**fields, **extra})


def received(
    event: OutcomeEvent, sequence: int | None, seconds: float, base: datetime = T0
) -> OutcomeRecord:
    """`event` as the aggregator received it `seconds` after `base`."""
    return OutcomeRecord(event, sequence, base + timedelta(seconds=seconds))
