"""Enrollment: the identity of each pull agent, an Ed25519 key pair per target.

`provision enroll TARGET --out DIR` is the bootstrap step, run on the control plane (as
`puppet ssl sign` or `salt-key -a` would be): it makes a key pair and writes
DIR/credentials.json (the private key, its public key, the broker URL), everything the
target's agent needs. The system of record (PostgreSQL, table `enrollments`) keeps only the
public key, so reading it does not let anyone act as an agent, and emptying or restarting
Redis forgets no agent. Enrolling again rotates the key: the old credentials stop working
at once.

A key is bound to its target: the desk verifies a check-in's proof with the key of the
target the check-in claims, so one target's credentials can never read another's state.
A proof is good once: its `sent_at` must be within CHECKIN_WINDOW_S of our clock and its
nonce unused (the nonces are kept in PostgreSQL until their window closes), so a check-in
read off the broker can be neither replayed nor altered (`contracts.proofs`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from contracts import limits, proofs
from contracts.checkins import CheckinRequest, Credentials
from contracts.private_files import write_private
from contracts.targets import Target
from producers.records.inventory import InventoryStore
from producers.store import enrollments
from producers.store.database import Database
from producers.store.enrollments import Enrolled
from producers.truth.errors import UnknownRevision, UnknownTarget
from producers.truth.revisions import RevisionStore

#: The file `provision enroll` writes in DIR.
CREDENTIALS_FILE = "credentials.json"


#: Expired nonces are deleted once every this many admitted check-ins (per desk).
FORGET_EVERY = 256


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
    """Issues key pairs and verifies check-in proofs."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._admitted = 0

    def enroll(
        self,
        target_id: str,
        broker_url: str,
        controller_public_key: str | None = None,
        *,
        then: Callable[[psycopg.Connection, Enrolled | None, str], object] | None = None,
    ) -> Credentials:
        """A fresh key pair for a known target; any earlier key of it stops working.

        The private key is returned (for credentials.json) and never stored here.
        `then(conn, enrolled_before, new_public_key)` runs in the same transaction (an
        operator's audit record: enrolled, or rotated when `enrolled_before` is not None).
        `controller_public_key` (PEM) goes into the credentials: the agent converges only
        states it signed.
        """
        known = known_target(self.db, target_id)
        private_key, public_key = proofs.new_key_pair()
        now = datetime.now(UTC)
        with self.db.connection() as conn, conn.transaction():
            before = enrollments.get(conn, target_id, lock=True)
            enrollments.enroll(conn, target_id, public_key, now)
            if then is not None:
                then(conn, before, public_key)
        return Credentials(
            target=target_id,
            private_key=private_key,
            public_key=public_key,
            broker_url=broker_url,
            enrolled_at=now,
            address=known.address,  # the agent's own root from now on: no reply may move it
            controller_public_key=controller_public_key,
        )

    def verify(self, request: CheckinRequest, now: datetime | None = None) -> str | None:
        """None when `request` is signed by its target's key, in time, and new; else why
        not, fit for the refusal record. Cheapest first: the clock, the key, the signature,
        then (only for a genuine proof) the nonce is spent."""
        now = now or datetime.now(UTC)
        window = limits.CHECKIN_WINDOW_S
        off_s = (request.sent_at - now).total_seconds()
        if abs(off_s) > window:
            side = "ahead of" if off_s > 0 else "behind"
            return (
                f"sent_at {request.sent_at.isoformat()} is {abs(off_s):.0f}s {side} the desk's "
                f"clock, outside {limits.limit('CHECKIN_WINDOW_S').env}={window:g}"
            )
        target_id = request.target
        with self.db.connection() as conn:
            stored = enrollments.get(conn, target_id)
        if stored is None:
            return f"target {target_id!r} is not enrolled"
        if stored.public_key is None:
            return f"target {target_id!r} was enrolled with a bearer token; enroll it again"
        if not proofs.verify(stored.public_key, proofs.checkin_message(request), request.proof):
            return f"the proof was not made with the key enrolled for target {target_id!r}"
        expires_at = request.sent_at + timedelta(seconds=window)
        with self.db.connection() as conn:
            fresh = enrollments.first_use(conn, target_id, request.nonce, expires_at)
            self._admitted += 1
            if self._admitted % FORGET_EVERY == 0:
                enrollments.forget_expired(conn, now)
        if not fresh:
            return f"nonce {request.nonce} was already used (a replayed check-in)"
        return None


def write_credentials(directory: Path, credentials: Credentials) -> Path:
    """DIR/credentials.json, mode 0600 in a 0700 DIR, replaced atomically."""
    text = credentials.model_dump_json(indent=2) + "\n"
    return write_private(directory / CREDENTIALS_FILE, text)
