"""The sender check of outcomes, applied to what a consumer holds: the rule is
`broker_config.senders`; this looks up the regions it needs and records its refusals.

Both consumers of outcomes use it: the aggregator (before a batch is written) and the
controller (before an outcome copy frees an in-flight slot). A refused outcome is recorded
with its reason among the refusals (`producers.store.refusals`, shown by `provision status`
and `provision failures`), acked, and has no effect on anything else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import psycopg

from broker_config.senders import Senders
from contracts import OutcomeEvent
from producers.store import inventory, refusals

log = logging.getLogger("provision.senders")

T = TypeVar("T")


def sender_of(properties: Any) -> str | None:
    """The AMQP `user_id` of a delivery (RabbitMQ checked it), or None."""
    user_id = getattr(properties, "user_id", None)
    return user_id if isinstance(user_id, str) and user_id else None


#: One item refused: the item, its sender, and why it may not speak for its target.
Refusal = tuple[T, str | None, str]


def judge(
    conn: psycopg.Connection,
    held: Sequence[T],
    senders: Senders,
    *,
    event_of: Callable[[T], OutcomeEvent],
    properties_of: Callable[[T], Any],
) -> tuple[list[T], list[Refusal[T]]]:
    """The items whose sender may speak for their outcome's target, in order, and the
    others with the reason. Only reads: the targets' regions are looked up (one query) only
    for outcomes a worker user sent."""
    asking = [
        (event_of(h).change_id, event_of(h).target)
        for h in held
        if senders.needs_region(sender_of(properties_of(h)))
    ]
    regions = inventory.regions_of(conn, asking) if asking else {}
    kept: list[T] = []
    refused: list[Refusal[T]] = []
    for item in held:
        event, sender = event_of(item), sender_of(properties_of(item))
        region = regions.get((event.change_id, event.target))
        why = senders.refusal(sender, event.target, region)
        if why is None:
            kept.append(item)
        else:
            refused.append((item, sender, why))
    return kept, refused


def refuse(
    conn: psycopg.Connection, event: OutcomeEvent, sender: str | None, why: str, *, by: str
) -> None:
    """Record one refused outcome (on `conn`, the caller's transaction) and log it."""
    reason = refusals.outcome_reason(event.change_id, event.outcome_id, sender, why, by)
    log.warning("%r", reason)
    refusals.refuse(conn, event.target[:100], reason)
