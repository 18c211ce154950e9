"""Enrollments: each pull agent's identity, as the sha256 of its token (never the token)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg


@dataclass(frozen=True)
class Enrolled:
    target: str
    token_sha256: str
    enrolled_at: datetime


def enroll(conn: psycopg.Connection, target: str, token_sha256: str, at: datetime) -> None:
    """Keep `token_sha256` as the target's only valid token: enrolling again rotates it."""
    conn.execute(
        """
        INSERT INTO enrollments (target, token_sha256, enrolled_at) VALUES (%s, %s, %s)
        ON CONFLICT (target) DO UPDATE SET
            token_sha256 = EXCLUDED.token_sha256, enrolled_at = EXCLUDED.enrolled_at
        """,
        (target, token_sha256, at),
    )


def get(conn: psycopg.Connection, target: str) -> Enrolled | None:
    row = conn.execute(
        "SELECT target, token_sha256, enrolled_at FROM enrollments WHERE target = %s", (target,)
    ).fetchone()
    return Enrolled(*row) if row else None


def count(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT count(*) FROM enrollments").fetchone()
    return int(row[0]) if row else 0
