"""Dead letters: the headers that say why a message ended in `provision.dead`.

A dead letter keeps the original body and headers untouched and adds these, so
`provision dlq` can show the reason and replay the original.
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


def dead_letter_headers(
    original: dict[str, Any] | None,
    *,
    reason: str,
    source: str,
    exchange: str,
    routing_key: str,
    attempts: int = 1,
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
    return headers
