"""Check-in refusals and events refused at intake: the trail a probing sender leaves.

Both hold hostile text, so every value is bounded and cleaned before it is stored. An
event body is kept only as its digest and a short excerpt: enough to recognise it, never
enough to store whatever a sender chooses to send.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import psycopg

from contracts import limits
from contracts.redaction import redact_text
from producers.store.text import clean

#: How much of a refused body is kept.
EXCERPT_CHARS = 1000


@dataclass(frozen=True)
class RefusalRow:
    at: datetime
    target: str | None
    reason: str


@dataclass(frozen=True)
class RejectedEvent:
    digest: str
    event_id: str | None
    source: str
    reason: str
    excerpt: str
    size: int
    times: int
    first_seen: datetime
    last_seen: datetime


def refuse(conn: psycopg.Connection, target: str | None, reason: str) -> None:
    """Record a refused check-in: who it claimed to be, and why it was refused.

    Only the newest `REFUSALS_KEPT` are kept, so refused check-ins cannot grow the
    database without bound (one range delete on the primary key; usually nothing).
    """
    row = conn.execute(
        "INSERT INTO checkin_refusals (target, reason) VALUES (%s, %s) RETURNING id",
        (clean(target, 100), clean(reason, 4000)),
    ).fetchone()
    if row is not None:
        conn.execute(
            "DELETE FROM checkin_refusals WHERE id <= %s", (int(row[0]) - limits.REFUSALS_KEPT,)
        )


def recent_refusals(conn: psycopg.Connection, limit: int = 100) -> list[RefusalRow]:
    """The latest refusals, newest first."""
    rows = conn.execute(
        "SELECT at, target, reason FROM checkin_refusals ORDER BY at DESC, id DESC LIMIT %s",
        (limit,),
    ).fetchall()
    return [RefusalRow(*row) for row in rows]


def reject_event(
    conn: psycopg.Connection,
    body: bytes,
    *,
    reason: str,
    source: str,
    event_id: str | None = None,
    excerpt: str | None = None,
) -> bool:
    """Record a refused event body; the same body again only counts. True when new.

    The excerpt is the caller's (already bounded and redacted) or the body's start with
    no sensitive content showing (`redact_text`): a refused body is not a way in.
    """
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    shown = redact_text(body) if excerpt is None else excerpt
    excerpt = clean(shown[: EXCERPT_CHARS * 4], EXCERPT_CHARS)
    row = conn.execute(
        """
        INSERT INTO rejected_events AS r (digest, event_id, source, reason, excerpt, size)
        VALUES (%s, %s, %s, %s, %s, %s)
        ON CONFLICT (digest) DO UPDATE SET
            times = least(r.times, 2147483646) + 1, last_seen = clock_timestamp()
        RETURNING times
        """,
        (
            digest,
            clean(event_id, 100),
            clean(source, 200),
            clean(reason, 4000),
            excerpt,
            len(body),
        ),
    ).fetchone()
    conn.execute(
        "DELETE FROM rejected_events"
        " WHERE last_seen < clock_timestamp() - make_interval(secs => %s)",
        (limits.REJECTED_TTL_S,),
    )
    return bool(row and row[0] == 1)


def rejected_event(conn: psycopg.Connection, event_id: str) -> RejectedEvent | None:
    """The body most recently refused under the id it claimed, or None."""
    row = conn.execute(
        """
        SELECT digest, event_id, source, reason, excerpt, size, times, first_seen, last_seen
        FROM rejected_events WHERE event_id = %s ORDER BY last_seen DESC LIMIT 1
        """,
        (event_id,),
    ).fetchone()
    return RejectedEvent(*row) if row else None


def rejected_events(conn: psycopg.Connection, limit: int = 100) -> list[RejectedEvent]:
    """The most recently refused event bodies, newest first."""
    rows = conn.execute(
        """
        SELECT digest, event_id, source, reason, excerpt, size, times, first_seen, last_seen
        FROM rejected_events ORDER BY last_seen DESC LIMIT %s
        """,
        (limit,),
    ).fetchall()
    return [RejectedEvent(*row) for row in rows]


#: How every refused outcome's reason starts: outcome refusals share the table with
#: check-in refusals (`provision status` and `provision failures` pick them out by it).
OUTCOME_REFUSED = "outcome refused"


def outcome_reason(change_id: str, outcome_id: str, sender: str | None, why: str, by: str) -> str:
    """The stored reason of a refused outcome: which one, who sent it, why, who refused it."""
    who = "no user_id" if not sender else repr(clean(sender, 100))
    return (
        f"{OUTCOME_REFUSED} (change {clean(change_id, 100)}, outcome {clean(outcome_id, 100)})"
        f" from {who} by the {by}: {why}"
    )


def outcome_refusals(
    conn: psycopg.Connection,
    *,
    change_id: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[RefusalRow]:
    """Refused outcomes, newest first: of one change, or received since a time."""
    pattern = OUTCOME_REFUSED + " (change "
    if change_id is not None:
        escaped = change_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern += escaped + ", "
    rows = conn.execute(
        """
        SELECT at, target, reason FROM checkin_refusals
        WHERE reason LIKE %s AND (%s::timestamptz IS NULL OR at >= %s)
        ORDER BY at DESC, id DESC LIMIT %s
        """,
        (pattern + "%", since, since, limit),
    ).fetchall()
    return [RefusalRow(*row) for row in rows]
