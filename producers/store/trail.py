"""The trail one change left in the system of record, read back for `provision trace`.

Every row here was written for another reason (the ledger, the rollout book, the
aggregator, intake's refusals); this module only reads them together, by change id, so a
timeline needs no tracing backend. It also finds a change from the first characters of its
id, as on-call types it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg

from producers.store.outcomes import Stored, _stored

#: Ids named at most when a prefix matches several.
MATCHES_SHOWN = 10


@dataclass(frozen=True)
class Opened:
    """The ledger's row of a change: who asked, when it was issued and when it was booked."""

    issued_by: str
    issued_at: datetime
    opened_at: datetime
    dry_run: bool


@dataclass(frozen=True)
class Publication:
    """One target of a rollout: its wave, and when its request was published (or None)."""

    target: str
    wave: int
    published_at: datetime | None


def opened(conn: psycopg.Connection, change_id: str) -> Opened | None:
    row = conn.execute(
        "SELECT issued_by, issued_at, opened_at, dry_run FROM changes WHERE change_id = %s",
        (change_id,),
    ).fetchone()
    return Opened(*row) if row else None


def publications(
    conn: psycopg.Connection, rollout_id: str, target: str | None = None
) -> list[Publication]:
    """The rollout's targets by wave and position, with their publish times."""
    rows = conn.execute(
        """
        SELECT target, wave, published_at FROM rollout_targets
        WHERE rollout_id = %s AND (%s::text IS NULL OR target = %s)
        ORDER BY wave, position
        """,
        (rollout_id, target, target),
    ).fetchall()
    return [Publication(*row) for row in rows]


def outcomes_of(
    conn: psycopg.Connection, change_id: str, target: str | None = None
) -> list[Stored]:
    """Every outcome recorded for the change (or one of its targets), in receive order:
    redeliveries and superseded ones included, not only the current one."""
    rows = conn.execute(
        """
        SELECT event_json, sequence, received_at FROM outcomes
        WHERE change_id = %s AND (%s::text IS NULL OR target = %s)
        ORDER BY received_at, id
        """,
        (change_id, target, target),
    ).fetchall()
    return [_stored(row) for row in rows]


def _like(prefix: str) -> str:
    """A LIKE pattern matching ids that start with `prefix`, taken literally."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def ids_starting(conn: psycopg.Connection, prefix: str) -> tuple[list[str], int]:
    """Change ids that start with `prefix` (the first MATCHES_SHOWN, sorted) and how many.

    The ledger and the rollout book name every change the control plane opened or refused;
    outcomes are asked only when neither knows the prefix (an outcome of a change nobody
    booked), since their table is the large one.
    """
    exact = conn.execute(
        """
        SELECT 1 FROM changes WHERE change_id = %(id)s
        UNION ALL SELECT 1 FROM rollouts WHERE rollout_id = %(id)s
        UNION ALL (SELECT 1 FROM outcomes WHERE change_id = %(id)s LIMIT 1)
        LIMIT 1
        """,
        {"id": prefix},
    ).fetchone()
    if exact is not None:
        return [prefix], 1
    pattern = _like(prefix)
    rows = conn.execute(
        """
        SELECT change_id FROM changes WHERE change_id LIKE %(p)s
        UNION SELECT rollout_id FROM rollouts WHERE rollout_id LIKE %(p)s
        """,
        {"p": pattern},
    ).fetchall()
    if not rows:
        rows = conn.execute(
            "SELECT DISTINCT change_id FROM outcomes WHERE change_id LIKE %s LIMIT %s",
            (pattern, MATCHES_SHOWN + 1),
        ).fetchall()
    found = sorted(row[0] for row in rows)
    return found[:MATCHES_SHOWN], len(found)


def has_target(conn: psycopg.Connection, change_id: str, target: str) -> bool:
    """True when the change was booked for `target`, planned it, or heard from it."""
    row = conn.execute(
        """
        SELECT EXISTS (SELECT 1 FROM change_targets WHERE change_id = %(c)s AND target = %(t)s)
            OR EXISTS (SELECT 1 FROM rollout_targets WHERE rollout_id = %(c)s AND target = %(t)s)
            OR EXISTS (SELECT 1 FROM outcomes WHERE change_id = %(c)s AND target = %(t)s)
        """,
        {"c": change_id, "t": target},
    ).fetchone()
    return bool(row and row[0])


def rollout_trace(conn: psycopg.Connection, rollout_id: str) -> dict[str, str]:
    """The trace context a rollout kept from its admission (`traceparent`), or {}."""
    row = conn.execute("SELECT trace FROM rollouts WHERE rollout_id = %s", (rollout_id,)).fetchone()
    kept = row[0] if row else None
    return {str(k): str(v) for k, v in kept.items()} if isinstance(kept, dict) else {}
