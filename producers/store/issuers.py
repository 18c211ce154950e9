"""Issuers registered directly in the system of record, their keys, and the events seen.

Where a source of truth is used, `issuers.yaml` in its latest revision names the issuers;
these tables hold the ones `provision keys create ISSUER --scope ...` registered, every
revocation (also of a key from issuers.yaml: revoking must not wait for a review), and the
digest of each accepted event, which is what tells a replay from a redelivery.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg


@dataclass(frozen=True)
class KeyRow:
    key_id: str
    issuer: str
    public_key: str | None
    created_at: datetime
    revoked_at: datetime | None
    scope_json: str | None


_KEY = """
    SELECT k.key_id, k.issuer, k.public_key, k.created_at, k.revoked_at, i.scope_json
    FROM issuer_keys k LEFT JOIN issuers i ON i.name = k.issuer
"""


def register(conn: psycopg.Connection, name: str, scope_json: str) -> bool:
    """Create the issuer, or set its scope. True when the issuer is new or its scope changed."""
    row = conn.execute(
        """
        INSERT INTO issuers AS i (name, scope_json) VALUES (%s, %s)
        ON CONFLICT (name) DO UPDATE SET scope_json = EXCLUDED.scope_json,
            updated_at = clock_timestamp()
        WHERE i.scope_json IS DISTINCT FROM EXCLUDED.scope_json
        RETURNING name
        """,
        (name, scope_json),
    ).fetchone()
    return row is not None


def add_key(conn: psycopg.Connection, key_id: str, issuer: str, public_key: str) -> None:
    """Register a key of `issuer`. A key id already known (revoked or not) is refused."""
    conn.execute(
        "INSERT INTO issuer_keys (key_id, issuer, public_key) VALUES (%s, %s, %s)",
        (key_id, issuer, public_key),
    )


def key(conn: psycopg.Connection, key_id: str) -> KeyRow | None:
    row = conn.execute(_KEY + "WHERE k.key_id = %s", (key_id,)).fetchone()
    return KeyRow(*row) if row else None


def keys(conn: psycopg.Connection) -> list[KeyRow]:
    """Every key on record, by issuer then creation."""
    rows = conn.execute(_KEY + "ORDER BY k.issuer, k.created_at, k.key_id").fetchall()
    return [KeyRow(*row) for row in rows]


def revoke(conn: psycopg.Connection, key_id: str, issuer: str | None = None) -> bool:
    """Revoke a key at once. A key only issuers.yaml knows gets a revocation row (`issuer`
    given). False when it was revoked already."""
    row = conn.execute(
        """
        INSERT INTO issuer_keys AS k (key_id, issuer, public_key, revoked_at)
        VALUES (%s, %s, NULL, clock_timestamp())
        ON CONFLICT (key_id) DO UPDATE SET revoked_at = clock_timestamp()
        WHERE k.revoked_at IS NULL
        RETURNING key_id
        """,
        (key_id, issuer or ""),
    ).fetchone()
    return row is not None


def seen_digest(conn: psycopg.Connection, event_id: str) -> str | None:
    row = conn.execute("SELECT digest FROM seen_events WHERE event_id = %s", (event_id,)).fetchone()
    return str(row[0]) if row else None


def see(conn: psycopg.Connection, event_id: str, digest: str, issuer: str) -> str:
    """Remember the digest of an accepted event's bytes; the digest on record afterwards
    (another's, if two controllers raced on the same id)."""
    conn.execute(
        "INSERT INTO seen_events (event_id, digest, issuer) VALUES (%s, %s, %s)"
        " ON CONFLICT (event_id) DO NOTHING",
        (event_id, digest, issuer),
    )
    found = seen_digest(conn, event_id)
    assert found is not None
    return found
