"""Dead letters: the headers that say why a message ended in `provision.dead`.

A dead letter keeps the original body and headers untouched and adds these, so
`provision dlq` can show the reason and replay the original. Messages the broker itself
dead-letters (a consumer rejected them) carry RabbitMQ's `x-death` instead; `reason_of`
reads either.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

REASON = "x-provision-reason"
SOURCE = "x-provision-source"
ATTEMPTS = "x-provision-attempts"
DEAD_AT = "x-provision-dead-at"
ORIGINAL_EXCHANGE = "x-provision-exchange"
ORIGINAL_ROUTING_KEY = "x-provision-routing-key"
TRACE_ID = "x-provision-trace-id"
#: Set by `provision dlq replay` on the republished original: a replay is a new round of
#: deliveries, so the workers' redelivery bound starts again for it.
REPLAY = "x-provision-replay"
#: RabbitMQ's own dead-lettering header (a list of tables, newest first).
X_DEATH = "x-death"

#: Headers that describe a death, not the original message; a replay strips them.
DEATH_HEADERS = frozenset(
    {REASON, SOURCE, ATTEMPTS, DEAD_AT, ORIGINAL_EXCHANGE, ORIGINAL_ROUTING_KEY, TRACE_ID, X_DEATH}
    | {"x-first-death-exchange", "x-first-death-queue", "x-first-death-reason"}
    | {"x-last-death-exchange", "x-last-death-queue", "x-last-death-reason"}
)


def dead_letter_headers(
    original: dict[str, Any] | None,
    *,
    reason: str,
    source: str,
    exchange: str,
    routing_key: str,
    attempts: int = 1,
    trace_id: str | None = None,
) -> dict[str, Any]:
    """The original headers plus why, where from and when the message died."""
    headers = dict(original or {})
    headers.update(
        {
            REASON: reason[:2000],
            SOURCE: source,
            ATTEMPTS: attempts,
            DEAD_AT: datetime.now(UTC).isoformat(),
            ORIGINAL_EXCHANGE: exchange,
            ORIGINAL_ROUTING_KEY: routing_key,
        }
    )
    trace_id = trace_id or trace_id_of(headers)
    if trace_id:
        headers[TRACE_ID] = trace_id
    return headers


def trace_id_of(headers: dict[str, Any]) -> str | None:
    """The W3C trace id carried by `traceparent` (`00-<trace id>-<span id>-<flags>`)."""
    value = headers.get(TRACE_ID)
    if isinstance(value, str) and value:
        return value
    parent = headers.get("traceparent")
    if isinstance(parent, str):
        parts = parent.split("-")
        if len(parts) == 4 and len(parts[1]) == 32:
            return parts[1]
    return None


def reason_of(headers: dict[str, Any]) -> tuple[str, str, str, str]:
    """Why, from where, and the original exchange and routing key of a dead letter.

    Returns:
        (reason, source, exchange, routing_key); empty strings for what is not known.
    """
    if headers.get(REASON):
        return (
            str(headers[REASON]),
            str(headers.get(SOURCE) or ""),
            str(headers.get(ORIGINAL_EXCHANGE) or ""),
            str(headers.get(ORIGINAL_ROUTING_KEY) or ""),
        )
    deaths = headers.get(X_DEATH)
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
        death = deaths[0]
        keys = death.get("routing-keys") or [""]
        return (
            f"broker: {death.get('reason', 'unknown')} by a consumer of {death.get('queue', '?')}",
            str(death.get("queue") or ""),
            str(death.get("exchange") or ""),
            str(keys[0]),
        )
    return "", "", "", ""


def attempts_of(headers: dict[str, Any]) -> int | None:
    """How many attempts (or broker deaths) a dead letter went through, where known."""
    value = headers.get(ATTEMPTS)
    if isinstance(value, int):
        return value
    deaths = headers.get(X_DEATH)
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
        count = deaths[0].get("count")
        return int(count) if isinstance(count, int) else None
    return None
