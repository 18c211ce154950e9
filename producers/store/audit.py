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
    return [_entry(row) for row in rows]


def _entry(row: tuple[Any, ...]) -> AuditEntry:
    try:
        detail = json.loads(row[5])
    except ValueError:  # a row edited around the trigger: shown, and `check` names it
        detail = {"unreadable": clean(row[5], 200)}
    return AuditEntry(row[0], row[1], row[2], row[3], row[4], detail, row[6], row[7])


#: The change ids a record names (`--change`): its detail's `change_id`, `event_id` and
#: `change_ids` (a list), and the subject of a rollout or event record. Only detail text
#: that looks like an object is cast, so a row edited into non-JSON is still listed.
_NAMED = """
    SELECT a.id, v.named FROM audit_log AS a, LATERAL (
        SELECT CASE WHEN a.detail_json LIKE '{%%' THEN a.detail_json::jsonb END AS d
    ) AS j, LATERAL (
        SELECT j.d ->> 'change_id' UNION ALL SELECT j.d ->> 'event_id'
        UNION ALL SELECT a.subject WHERE a.action LIKE 'rollout.%%' OR a.action LIKE 'event.%%'
        UNION ALL SELECT jsonb_array_elements_text(
            CASE WHEN jsonb_typeof(j.d -> 'change_ids') = 'array' THEN j.d -> 'change_ids' END)
    ) AS v(named)
"""
_CHANGE_IDS = f"""
    SELECT DISTINCT named FROM ({_NAMED}) AS n WHERE starts_with(named, %s)
    ORDER BY named LIMIT %s
"""


def change_ids(conn: psycopg.Connection, prefix: str, limit: int = 20) -> list[str]:
    """The change ids recorded in the trail that start with `prefix`, sorted (at most
    `limit`): how `--change` resolves an abbreviated id, as git does."""
    rows = conn.execute(_CHANGE_IDS, (prefix, limit)).fetchall()
    return [row[0] for row in rows]


def search(
    conn: psycopg.Connection,
    *,
    since: datetime | None = None,
    issuer: str | None = None,
    change_id: str | None = None,
    action: str | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """The latest `limit` entries matching every filter given, oldest first.

    `issuer` matches the actor or the detail's `issuer`; `change_id` the detail's
    `change_id`, `event_id` or `change_ids`, or the subject of a rollout or event record.
    """
    where: list[str] = ["TRUE"]
    params: list[Any] = []
    if since is not None:
        where.append("at >= %s")
        params.append(since)
    if issuer is not None:
        where.append(
            "(actor = %s OR (detail_json LIKE '{%%' AND detail_json::jsonb ->> 'issuer' = %s))"
        )
        params += [issuer, issuer]
    if change_id is not None:
        where.append(f"id IN (SELECT id FROM ({_NAMED}) AS n WHERE named = %s)")
        params.append(change_id)
    if action is not None:
        where.append("action = %s")
        params.append(action)
    rows = conn.execute(
        "SELECT * FROM (SELECT id, at, actor, action, subject, detail_json, prev_hash, hash"
        f" FROM audit_log WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT %s) AS latest"
        " ORDER BY id",
        (*params, limit),
    ).fetchall()
    return [_entry(row) for row in rows]


def verify(conn: psycopg.Connection) -> int | None:
    """The id of the first entry whose chain is broken, or None when the chain is whole."""
    found = check(conn).broken
    return found.id if found else None


@dataclass(frozen=True)
class Broken:
    """The first entry that does not match, and why: `edited` (its own fields no longer give
    its hash) or `chain broken` (it does not follow the entry before it: one was removed,
    inserted or rewritten together with its hash)."""

    id: int
    at: datetime
    action: str
    reason: str


@dataclass(frozen=True)
class Checked:
    """What walking the chain found: how many entries matched, and the first that did not."""

    matched: int
    broken: Broken | None


def check(conn: psycopg.Connection) -> Checked:
    """Walk the chain from the first entry, recomputing every hash; stop at the first break."""
    prev, matched = GENESIS, 0
    # A server-side cursor in a transaction: a long trail is walked, never held in memory.
    cursor = conn.cursor() if conn.autocommit else conn.cursor(name="audit_check")
    with cursor:
        cursor.execute(
            "SELECT id, at, actor, action, subject, detail_json, prev_hash, hash"
            " FROM audit_log ORDER BY id"
        )
        for row in cursor:
            entry_id, at, actor, action, subject, detail_json, prev_hash, digest = row
            if prev_hash != prev:
                reason = (
                    "chain broken: its prev_hash is not the hash of the record before it "
                    "(a record was removed, inserted or rewritten with its hash)"
                )
                return Checked(matched, Broken(int(entry_id), at, action, reason))
            if digest != entry_hash(prev, at, actor, action, subject, detail_json):
                reason = "edited: its fields no longer give its hash"
                return Checked(matched, Broken(int(entry_id), at, action, reason))
            prev, matched = digest, matched + 1
    return Checked(matched, None)
