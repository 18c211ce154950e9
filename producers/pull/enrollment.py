"""Enrollment: the identity of each pull agent, a secret token per target.

`provision enroll TARGET --out DIR` is the bootstrap step, run on the control plane (as
`puppet ssl sign` or `salt-key -a` would be): it writes DIR/credentials.json, which is
everything the target's agent needs. The system of record (PostgreSQL, table
`enrollments`) keeps only the token's sha256, so reading it does not let anyone act as an
agent, and emptying or restarting Redis forgets no agent. Enrolling again rotates the
token: the old credentials stop working at once.

A token is bound to its target: the check-in desk verifies the token against the target
the agent claims, so one target's credentials can never read another's state.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

from contracts.checkins import Credentials
from contracts.targets import Target
from producers.records.inventory import InventoryStore
from producers.store import enrollments
from producers.store.database import Database
from producers.truth.errors import UnknownRevision, UnknownTarget
from producers.truth.revisions import RevisionStore

#: The file `provision enroll` writes in DIR.
CREDENTIALS_FILE = "credentials.json"


def token_digest(token: str) -> str:
    """The sha256 (hex) under which a token is kept."""
    return hashlib.sha256(token.encode()).hexdigest()


def known_target(db: Database, target_id: str) -> Target:
    """The target from the inventory, else from the latest revision. Raises UnknownTarget."""
    found = InventoryStore(db).get(target_id)
    if found is not None:
        return found
    store = RevisionStore(db)
    try:
        found = store.bundle(store.resolve("latest")).target(target_id)
    except UnknownRevision:
        found = None
    if found is None:
        raise UnknownTarget(
            f"target {target_id!r} is neither in the inventory nor in the latest revision; "
            "load it (`provision inventory load`) or publish it (`provision state publish`)"
        )
    return found


class Enrollment:
    """Issues and verifies agent tokens."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def enroll(self, target_id: str, broker_url: str) -> Credentials:
        """A fresh token for a known target; any earlier token of it stops working."""
        known = known_target(self.db, target_id)
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        with self.db.connection() as conn:
            enrollments.enroll(conn, target_id, token_digest(token), now)
        return Credentials(
            target=target_id,
            token=token,
            broker_url=broker_url,
            enrolled_at=now,
            address=known.address,  # the agent's own root from now on: no reply may move it
        )

    def verify(self, target_id: str, token: str) -> str | None:
        """None when `token` is `target_id`'s; else why not, fit for the refusal record."""
        with self.db.connection() as conn:
            stored = enrollments.get(conn, target_id)
        if stored is None:
            return f"target {target_id!r} is not enrolled"
        if not hmac.compare_digest(stored.token_sha256, token_digest(token)):
            return f"the token was not issued to target {target_id!r}"
        return None


def write_credentials(directory: Path, credentials: Credentials) -> Path:
    """DIR/credentials.json, mode 0600 in a 0700 DIR, replaced atomically."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    path = directory / CREDENTIALS_FILE
    temporary = directory / f".{CREDENTIALS_FILE}.{os.getpid()}"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(credentials.model_dump_json(indent=2) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    return path
