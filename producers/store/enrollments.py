"""Enrollments: each pull agent's identity as its Ed25519 public key (never a secret), and
the nonces of admitted check-ins, so that none is admitted twice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg


@dataclass(frozen=True)
class Enrolled:
    target: str
    #: None for an agent enrolled with a bearer token, before check-in proofs (0005).
    public_key: str | None
    enrolled_at: datetime


def enroll(conn: psycopg.Connection, target: str, public_key: str, at: datetime) -> None:
    """Keep `public_key` as the target's only key: enrolling again rotates it."""
    conn.execute(
        """
        INSERT INTO enrollments (target, public_key, enrolled_at) VALUES (%s, %s, %s)
        ON CONFLICT (target) DO UPDATE SET
            public_key = EXCLUDED.public_key, enrolled_at = EXCLUDED.enrolled_at
        """,
        (target, public_key, at),
    )


def get(conn: psycopg.Connection, target: str, *, lock: bool = False) -> Enrolled | None:
    """The target's enrollment; `lock` holds its row until the transaction ends (so an
    enrollment and what is recorded of the one it replaces agree)."""
    row = conn.execute(
        "SELECT target, public_key, enrolled_at FROM enrollments WHERE target = %s"
        + (" FOR UPDATE" if lock else ""),
        (target,),
    ).fetchone()
    return Enrolled(*row) if row else None


def count(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT count(*) FROM enrollments").fetchone()
    return int(row[0]) if row else 0


def first_use(conn: psycopg.Connection, target: str, nonce: str, expires_at: datetime) -> bool:
    """Record `nonce` for `target` until `expires_at`; False when it was already recorded.

    One statement, under the primary key: of two desks admitting the same nonce at once,
    exactly one gets True.
    """
    row = conn.execute(
        """
        INSERT INTO checkin_nonces (target, nonce, expires_at) VALUES (%s, %s, %s)
        ON CONFLICT (target, nonce) DO NOTHING RETURNING 1
        """,
        (target, nonce, expires_at),
    ).fetchone()
    return row is not None


def forget_expired(conn: psycopg.Connection, now: datetime) -> int:
    """Drop the nonces whose check-ins the window already refuses; how many went."""
    return conn.execute("DELETE FROM checkin_nonces WHERE expires_at < %s", (now,)).rowcount
