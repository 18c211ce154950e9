"""Failed targets grouped by reason: what `provision trace --failed` and the dashboard show.

A reason is worded to be shared by targets failing alike (the target's own id taken out),
so a thousand targets failing the same way are one group, not a thousand lines.
"""

from __future__ import annotations

from contracts.outcomes import OutcomeEvent
from producers.records.moments import one_line
from producers.store import outcomes
from producers.store.database import Database
from producers.store.outcomes import FAILURES


def reason_of(event: OutcomeEvent) -> str:
    """What a failed target's outcome failed of, in words shared by targets failing alike:
    its status and error (the target's own id taken out)."""
    if event.error is None:
        return event.status.value
    message = " ".join(event.error.message.split()).replace(event.target, "<target>")
    return one_line(f"{event.status.value}: {event.error.type}: {message}", 200)


def failed_by_reason(db: Database, change_id: str) -> list[tuple[str, list[str]]]:
    """The change's targets whose current outcome failed, grouped by reason: most targets
    first, then by reason; targets sorted within a group."""
    groups: dict[str, list[str]] = {}
    with db.connection() as conn:
        for status in FAILURES:
            for s in outcomes.by_status(conn, change_id, status):
                groups.setdefault(reason_of(s.event), []).append(s.event.target)
    return sorted(
        ((reason, sorted(targets)) for reason, targets in groups.items()),
        key=lambda group: (-len(group[1]), group[0]),
    )
