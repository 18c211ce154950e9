"""Publish outcome events and dead letters from the data plane, with confirms.

Used by the Celery task (and later by the pull agent), so every outcome takes one road.
A dead letter is built by `broker_config.dead_letters` (one format for both planes); this
module only gives it the worker's way to send (`kombu_send`: Celery's producer pool, retried).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from broker_config import RESULTS_EXCHANGE
from broker_config.connections import speaks_as
from broker_config.dead_letters import Letter, Send
from contracts import ChangeRequest, ErrorInfo, OutcomeEvent, OutcomeStatus, ResourceOutcome
from contracts.changes import utcnow
from contracts.telemetry import (
    ATTR_CHANGE_ID,
    ATTR_STATUS,
    ATTR_TARGET,
    MESSAGING_ROUTING_KEY,
    current_trace_id,
    sending,
)
from workers.delivery import metrics, receipt

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
    dead_letter: str | None = None,
    change_id: str | None = None,
    target: str | None = None,
) -> OutcomeEvent:
    """The outcome event of one (change, target); ids come from `change` when it parsed.

    It carries what the worker knows of the delivery in hand (`receipt`): the queue wait,
    a redelivery, the earlier tries; and why it was dead-lettered, when it was.
    """
    held = receipt.current()
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
        # The request's place in its target's history: the system of record orders by it.
        sequence=change.sequence if change is not None else None,
        queue_wait_s=held.queue_wait_s if held else None,
        redelivered=held.redelivered if held else False,
        retries=held.tries if held else (),
        dead_letter=dead_letter[:2000] if dead_letter else None,
    )


def _producer_publish(
    app: Any,
    body: bytes,
    *,
    exchange: str,
    routing_key: str,
    headers: dict[str, Any],
    content_type: str = "application/json",
    correlation_id: str | None = None,
) -> None:
    properties = {} if correlation_id is None else {"correlation_id": correlation_id}
    with app.producer_or_acquire() as producer:
        user_id = speaks_as(producer.connection)
        if user_id:  # RabbitMQ checks it names this connection's user
            properties["user_id"] = user_id
        producer.publish(
            body,
            exchange=exchange,
            routing_key=routing_key,
            content_type=content_type,
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
            **properties,
        )


#: A publish retried a few times, briefly, on a transient error; then the error is raised.
retried = retry(
    retry=retry_if_exception_type(TRANSIENT),
    stop=stop_after_attempt(4),
    wait=wait_exponential_jitter(multiplier=0.2, max=3.0),
    reraise=True,
)


@retried
def report(app: Any, event: OutcomeEvent, routing_key: str) -> None:
    """Publish one outcome to `provision.results` (confirmed) from a PRODUCER span,
    carrying the trace context."""
    with sending(
        RESULTS_EXCHANGE,
        event.outcome_id,
        **{
            MESSAGING_ROUTING_KEY: routing_key,
            ATTR_CHANGE_ID: event.change_id,
            ATTR_TARGET: event.target,
            ATTR_STATUS: event.status.value,
        },
    ) as headers:
        _producer_publish(
            app,
            event.model_dump_json().encode(),
            exchange=RESULTS_EXCHANGE,
            routing_key=routing_key,
            headers=headers,
        )
    metrics.published(event.status.value)


def user_of(app: Any) -> str | None:
    """The user the app's broker connections speak as (`speaks_as`; none is opened)."""
    with app.connection_for_write() as connection:
        return speaks_as(connection)


def kombu_send(app: Any) -> Send:
    """`broker_config.dead_letters.Send` over the worker's producer pool, confirmed and retried."""

    @retried
    def send(letter: Letter) -> None:
        _producer_publish(
            app,
            letter.body,
            exchange=letter.exchange,
            routing_key=letter.routing_key,
            headers=letter.headers,
            content_type=letter.content_type,
            correlation_id=letter.correlation_id,
        )

    return send
