"""Publish outcome events and dead letters from the data plane, with confirms.

Used by the Celery task (and later by the pull agent), so every outcome takes one road.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from broker_config import DEAD_EXCHANGE, RESULTS_EXCHANGE
from contracts import ChangeRequest, ErrorInfo, OutcomeEvent, OutcomeStatus, ResourceOutcome
from contracts.changes import utcnow
from contracts.dead import dead_letter_headers
from contracts.telemetry import current_trace_id, inject

#: Errors of one publish that a short retry inside the same attempt can cure.
TRANSIENT = (ConnectionError, OSError, TimeoutError)


def outcome(
    change: ChangeRequest | None,
    status: OutcomeStatus,
    attempts: int,
    worker: str,
    started: datetime,
    resources: Sequence[ResourceOutcome] = (),
    error: ErrorInfo | None = None,
    *,
    change_id: str | None = None,
    target: str | None = None,
) -> OutcomeEvent:
    """The outcome event of one (change, target); ids come from `change` when it parsed."""
    return OutcomeEvent(
        outcome_id=str(uuid.uuid4()),
        change_id=change.change_id if change is not None else str(change_id),
        target=change.target.id if change is not None else str(target),
        status=status,
        resources=tuple(resources),
        error=error,
        attempts=max(1, attempts),
        worker=worker,
        started_at=started,
        finished_at=utcnow(),
        trace_id=current_trace_id(),
        dry_run=change.dry_run if change is not None else False,
        revision=change.revision if change is not None else None,
    )


def _producer_publish(
    app: Any, body: bytes, *, exchange: str, routing_key: str, headers: dict[str, Any]
) -> None:
    with app.producer_or_acquire() as producer:
        producer.publish(
            body,
            exchange=exchange,
            routing_key=routing_key,
            content_type="application/json",
            content_encoding="utf-8",
            delivery_mode=2,
            headers=headers,
            retry=True,
            retry_policy={
                "max_retries": 3,
                "interval_start": 0.2,
                "interval_step": 0.5,
                "interval_max": 2.0,
            },
        )


@retry(
    retry=retry_if_exception_type(TRANSIENT),
    stop=stop_after_attempt(4),
    wait=wait_exponential_jitter(multiplier=0.2, max=3.0),
    reraise=True,
)
def report(app: Any, event: OutcomeEvent, routing_key: str) -> None:
    """Publish one outcome to `provision.results` (confirmed), carrying the trace context."""
    headers: dict[str, Any] = {}
    inject(headers)
    _producer_publish(
        app,
        event.model_dump_json().encode(),
        exchange=RESULTS_EXCHANGE,
        routing_key=routing_key,
        headers=headers,
    )


@retry(
    retry=retry_if_exception_type(TRANSIENT),
    stop=stop_after_attempt(4),
    wait=wait_exponential_jitter(multiplier=0.2, max=3.0),
    reraise=True,
)
def dead_letter(
    app: Any,
    *,
    body: Any,
    headers: dict[str, Any],
    reason: str,
    source: str,
    exchange: str,
    routing_key: str,
    attempts: int,
) -> None:
    """Publish a message that cannot be processed to `provision.dead`, with its reason."""
    raw = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
    _producer_publish(
        app,
        raw,
        exchange=DEAD_EXCHANGE,
        routing_key=routing_key,
        headers=dead_letter_headers(
            headers,
            reason=reason,
            source=source,
            exchange=exchange,
            routing_key=routing_key,
            attempts=attempts,
        ),
    )
