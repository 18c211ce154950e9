"""Revisions of the source of truth and the rendered bytes each target is given.

Revisions are numbered 1, 2, ... without gaps and never change (the table refuses UPDATE
and DELETE). Publishing takes the publishers' lock, so two publishers get consecutive numbers; the
same content as the latest revision stores nothing and returns that revision.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

import psycopg

from contracts.truth import Revision

_COLUMNS = "sequence, content_hash, author, message, created_at"
#: Taken by every publisher until its transaction ends: numbers follow one another. An
#: advisory lock (any number, as long as it is ours), not LOCK TABLE: that would need UPDATE
#: or DELETE on the append-only table, which no role holds (producers/access/grants.py).
PUBLISH_LOCK = "SELECT pg_advisory_xact_lock(x'70756273'::int)"


def _revision(row: tuple[object, ...]) -> Revision:
    return Revision.model_validate(dict(zip(_COLUMNS.split(", "), row, strict=True)))


def publish(
    conn: psycopg.Connection,
    *,
    content_hash: str,
    author: str,
    message: str,
    created_at: datetime,
    bundle_json: str,
    rendered: Mapping[str, bytes] | Callable[[int], Mapping[str, bytes]],
    sign: Callable[[int, str, bytes], tuple[str, str]] | None = None,
) -> tuple[Revision, bool]:
    """Store the next revision with its rendered states, in one transaction.

    `sign(revision, target, state)` gives (key id, signature) of each state; both are kept
    in `rendered_signatures` in the same transaction. Without it the states are unsigned,
    and an agent refuses them.

    `rendered` may be a function of the new sequence (rendered bytes name their revision),
    called under the lock once the sequence is known and only when a revision is stored.
    Returns (revision, created); created is False when the latest revision already has
    this content hash, and then nothing is written.
    """
    with conn.transaction():
        conn.execute(PUBLISH_LOCK)
        latest = conn.execute(
            f"SELECT {_COLUMNS} FROM revisions ORDER BY sequence DESC LIMIT 1"
        ).fetchone()
        if latest is not None and latest[1] == content_hash:
            return _revision(latest), False
        sequence = 1 if latest is None else int(str(latest[0])) + 1
        row = conn.execute(
            f"""
            INSERT INTO revisions ({_COLUMNS}, bundle)
            VALUES (%s, %s, %s, %s, %s, %s)
            RETURNING {_COLUMNS}
            """,
            (sequence, content_hash, author, message, created_at, bundle_json),
        ).fetchone()
        assert row is not None
        states = rendered(sequence) if callable(rendered) else rendered
        with conn.cursor().copy(
            "COPY rendered_states (revision, target, state) FROM STDIN"
        ) as copy:
            for target, state in states.items():
                copy.write_row((sequence, target, state))
        if sign is not None:
            with conn.cursor().copy(
                "COPY rendered_signatures (revision, target, key_id, signature) FROM STDIN"
            ) as copy:
                for target, state in states.items():
                    copy.write_row((sequence, target, *sign(sequence, target, state)))
    return _revision(row), True


def latest_sequence(conn: psycopg.Connection) -> int:
    """The latest sequence number, 0 when nothing is published."""
    row = conn.execute("SELECT coalesce(max(sequence), 0) FROM revisions").fetchone()
    return int(row[0]) if row else 0


def get(conn: psycopg.Connection, sequence: int) -> Revision | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM revisions WHERE sequence = %s", (sequence,))
    found = row.fetchone()
    return _revision(found) if found else None


def all_revisions(conn: psycopg.Connection) -> list[Revision]:
    """Every revision, oldest first."""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM revisions ORDER BY sequence").fetchall()
    return [_revision(row) for row in rows]


def bundle_json(conn: psycopg.Connection, sequence: int) -> str | None:
    """The canonical JSON of the source bundle stored with a revision."""
    row = conn.execute("SELECT bundle FROM revisions WHERE sequence = %s", (sequence,)).fetchone()
    return str(row[0]) if row else None


def rendered(conn: psycopg.Connection, sequence: int, target: str) -> bytes | None:
    """The stored bytes of one target's rendered state at one revision, exactly."""
    row = conn.execute(
        "SELECT state FROM rendered_states WHERE revision = %s AND target = %s",
        (sequence, target),
    ).fetchone()
    return bytes(row[0]) if row else None


def rendered_signature(conn: psycopg.Connection, sequence: int, target: str) -> str | None:
    """The controller's signature of one target's rendered state, None when unsigned."""
    row = conn.execute(
        "SELECT signature FROM rendered_signatures WHERE revision = %s AND target = %s",
        (sequence, target),
    ).fetchone()
    return str(row[0]) if row else None
