"""The audit trail: an append-only hash chain of who did what to which subject, and when.

Each entry's hash covers the previous entry's hash and the entry's own canonical text, so
editing or removing any row breaks every hash after it, and `verify` finds where. Appends
are serialised by an advisory lock held for the transaction, so the chain never forks
(the table's unique `prev_hash` would refuse a fork anyway).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

from producers.store.text import clean

#: The `prev_hash` of the first entry.
GENESIS = "0" * 64
#: Advisory lock held while appending (any number, as long as it is ours).
LOCK_ID = 0x61756474


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    subject: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str


def _canonical(detail: dict[str, Any]) -> str:
    return clean(json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=True))


def entry_hash(
    prev_hash: str, at: datetime, actor: str, action: str, subject: str, detail_json: str
) -> str:
    """sha256 over the previous hash and this entry's fields, one per line."""
    stamp = at.astimezone(UTC).isoformat(timespec="microseconds")
    text = "\n".join((prev_hash, stamp, actor, action, subject, detail_json))
    return hashlib.sha256(text.encode()).hexdigest()


def append(
    conn: psycopg.Connection,
    *,
    actor: str,
    action: str,
    subject: str,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry, chained to the latest, in a transaction of its own."""
    actor, action, subject = clean(actor, 200), clean(action, 200), clean(subject, 400)
    detail_json = _canonical(detail or {})
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_ID,))
        last = conn.execute("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
        prev = last[0] if last else GENESIS
        at = datetime.now(UTC)
        digest = entry_hash(prev, at, actor, action, subject, detail_json)
        row = conn.execute(
            """
            INSERT INTO audit_log (at, actor, action, subject, detail_json, prev_hash, hash)
            VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id
            """,
            (at, actor, action, subject, detail_json, prev, digest),
        ).fetchone()
    assert row is not None
    return AuditEntry(row[0], at, actor, action, subject, json.loads(detail_json), prev, digest)


def entries(conn: psycopg.Connection, after_id: int = 0, limit: int = 1000) -> list[AuditEntry]:
    """Entries after `after_id`, oldest first."""
    rows = conn.execute(
        """
        SELECT id, at, actor, action, subject, detail_json, prev_hash, hash
        FROM audit_log WHERE id > %s ORDER BY id LIMIT %s
        """,
        (after_id, limit),
    ).fetchall()
    return [AuditEntry(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7]) for r in rows]


def verify(conn: psycopg.Connection) -> int | None:
    """The id of the first entry whose chain is broken, or None when the chain is whole."""
    prev = GENESIS
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT id, at, actor, action, subject, detail_json, prev_hash, hash"
            " FROM audit_log ORDER BY id"
        )
        for row in cursor:
            entry_id, at, actor, action, subject, detail_json, prev_hash, digest = row
            expected = entry_hash(prev, at, actor, action, subject, detail_json)
            if prev_hash != prev or digest != expected:
                return int(entry_id)
            prev = digest
    return None
