"""Dead letters for the dashboard: browsed with the dashboard's broker URL, replayed only
with the operator's.

Both run in a worker thread (pika is blocking) over a connection of their own, closed at
once: browsing leaves the queue as it was (nothing is acked), replay acks only the letter
it republished (`producers.messaging.dlq`).
"""

from __future__ import annotations

from dataclasses import replace

from broker_config import Endpoints
from broker_config.connections import connect_broker
from producers.messaging.dlq import DeadLetter, DeadLetters

#: Dead letters read for one page view, so a flooded queue cannot wedge the dashboard.
SHOWN = 200


def browse(endpoints: Endpoints, limit: int = SHOWN) -> tuple[list[DeadLetter], bool]:
    """The oldest `limit` dead letters, and whether there are more."""
    connection = connect_broker(endpoints)
    try:
        letters = DeadLetters(connection).entries(limit + 1)
    finally:
        connection.close()
    return letters[:limit], len(letters) > limit


def replay(endpoints: Endpoints, operator_url: str, letter_id: str) -> list[DeadLetter]:
    """Republish the dead letter `letter_id` as the operator's broker user; what was
    replayed (empty: no such replayable letter). Raises PublishError when refused."""
    connection = connect_broker(replace(endpoints, broker_url=operator_url))
    try:
        return DeadLetters(connection).replay([letter_id])
    finally:
        connection.close()
