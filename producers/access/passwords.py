"""A role user's password in any store: the one its files keep, else a new one.

`provision access` is idempotent: a rerun keeps each password its files hold (the broker
user's `.url`, the Redis and PostgreSQL URLs in its `.env`) and makes one only where none is
kept. What happened to it is told in the same words for every store.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from broker_config.endpoints import password_of


def kept_or_new(stored_url: str | None, existed: Callable[[], bool]) -> tuple[str, str]:
    """(password, what happened to it): the password `stored_url` carries is "kept"; else a
    new one, "rotated" when the user `existed` (asked only then), else "created"."""
    kept = password_of(stored_url)
    if kept:
        return kept, "kept"
    return secrets.token_urlsafe(24), "rotated" if existed() else "created"
