"""The revision store: immutable, numbered revisions of the source of truth in PostgreSQL.

Tables `revisions` (number, content hash, author, message, time, the validated bundle as
canonical JSON) and `rendered_states` (revision, target → the canonical bytes of that
target's RenderedState), both append-only: a revision, once written, never changes.

Rendered bytes are stored at publish, in the same transaction as the revision, so push
(`provision apply --rev`) and pull (an agent asking for its state) read the very same
bytes rather than rendering twice. A store given the controller's key (`signer`) signs
each target's bytes as they are rendered (`rendered_signatures`), so bytes edited in the
database later no longer match: an agent refuses them, and so does the controller before
it puts them in a change request.

Publishing takes a table lock: two publishers get consecutive numbers, with no gaps.
Publishing content whose hash equals the latest revision's stores nothing and returns that
revision (`created=False`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.controller_signatures import sign_state
from contracts.signatures import key_id_of
from contracts.truth import Layer, Revision, SourceBundle, canonical_bytes, content_hash
from producers.store import revisions as rows
from producers.store.database import Database
from producers.truth.errors import UnknownRevision, UnknownTarget
from producers.truth.render import render_all

#: Parsed bundles kept per store: revisions never change, and a check-in may need one.
BUNDLES_CACHED = 4


@dataclass(frozen=True)
class Published:
    """What `publish` did: the revision, and whether it is new or the unchanged latest."""

    revision: Revision
    created: bool


class RevisionStore:
    """Reads and writes revisions in the system of record."""

    def __init__(self, db: Database, signer: Ed25519PrivateKey | None = None) -> None:
        self.db = db
        #: The controller's key: signs every rendered state this store publishes.
        self.signer = signer
        self._bundles: OrderedDict[int, SourceBundle] = OrderedDict()

    def publish(
        self,
        bundle: SourceBundle,
        *,
        author: str,
        message: str,
        now: datetime | None = None,
        then: Callable[[psycopg.Connection, Published], object] | None = None,
    ) -> Published:
        """Store `bundle` as the next revision, unless it equals the latest one.

        `then(conn, published)` runs in the same transaction when a revision is stored (an
        operator's audit record): the revision and what `then` writes commit together."""
        with self.db.connection() as conn, conn.transaction():
            revision, created = rows.publish(
                conn,
                content_hash=content_hash(bundle),
                author=author,
                message=message,
                created_at=(now or datetime.now(UTC)).astimezone(UTC),
                bundle_json=canonical_bytes(bundle).decode(),
                rendered=lambda number: render_all(bundle, number),
                sign=self._sign,
            )
            published = Published(revision, created)
            if created and then is not None:
                then(conn, published)
        return published

    def record_layer(self, layer: Layer, *, author: str) -> Published:
        """The latest revision plus `layer`, as a new revision (message: the event id).

        Idempotent per event: if the latest revision already holds a layer of this event
        (a controller that crashed after recording it), that revision is returned. The
        check and the publish hold the publishers' lock together, so two controllers
        recording the same event make one revision.
        """
        with self.db.connection() as conn:
            conn.execute(rows.PUBLISH_LOCK)
            latest = rows.latest_sequence(conn)
            if not latest:
                raise UnknownRevision("no revision published yet: nothing to layer on")
            text = rows.bundle_json(conn, latest)
            assert text is not None
            bundle = SourceBundle.model_validate_json(text)
            if any(existing.event_id == layer.event_id for existing in bundle.layers):
                found = rows.get(conn, latest)
                assert found is not None
                return Published(found, created=False)
            layered = bundle.model_copy(update={"layers": (*bundle.layers, layer)})
            revision, created = rows.publish(
                conn,
                content_hash=content_hash(layered),
                author=author,
                message=f"event {layer.event_id}",
                created_at=datetime.now(UTC),
                bundle_json=canonical_bytes(layered).decode(),
                rendered=lambda number: render_all(layered, number),
                sign=self._sign,
            )
        return Published(revision, created)

    def latest_number(self) -> int:
        """The latest revision number, 0 when nothing is published."""
        with self.db.connection() as conn:
            return rows.latest_sequence(conn)

    def latest(self) -> Revision | None:
        """The latest revision, or None."""
        number = self.latest_number()
        return self.get(number) if number else None

    def resolve(self, ref: str | int | None) -> int:
        """A number from `3`, `"3"`, `"latest"` or None (latest). Raises UnknownRevision."""
        latest = self.latest_number()
        if not latest:
            raise UnknownRevision(
                "no revision published yet; run `provision state publish DIR -m MESSAGE`"
            )
        if ref is None or ref == "latest":
            return latest
        try:
            number = int(ref)
        except ValueError:
            raise UnknownRevision(f"revision {ref!r} is not a number or 'latest'") from None
        if not 1 <= number <= latest:
            raise UnknownRevision(f"no revision {number} (revisions: 1..{latest})")
        return number

    def get(self, number: int) -> Revision:
        """The metadata of one revision. Raises UnknownRevision."""
        with self.db.connection() as conn:
            found = rows.get(conn, number)
            if found is None:
                raise self._unknown(number, rows.latest_sequence(conn))
        return found

    def list(self) -> list[Revision]:
        """Every revision, oldest first."""
        with self.db.connection() as conn:
            return rows.all_revisions(conn)

    def bundle(self, number: int) -> SourceBundle:
        """The validated source bundle stored with a revision. Raises UnknownRevision."""
        cached = self._bundles.get(number)
        if cached is not None:
            self._bundles.move_to_end(number)
            return cached
        with self.db.connection() as conn:
            text = rows.bundle_json(conn, number)
            if text is None:
                raise self._unknown(number, rows.latest_sequence(conn))
        bundle = SourceBundle.model_validate_json(text)
        self._bundles[number] = bundle
        while len(self._bundles) > BUNDLES_CACHED:
            self._bundles.popitem(last=False)
        return bundle

    def rendered(self, number: int, target_id: str) -> bytes:
        """The stored canonical bytes of one target's RenderedState at one revision."""
        with self.db.connection() as conn:
            raw = rows.rendered(conn, number, target_id)
            if raw is not None:
                return raw
            if rows.get(conn, number) is None:  # an unknown revision says so first
                raise self._unknown(number, rows.latest_sequence(conn))
        raise UnknownTarget(f"no target {target_id!r} at revision {number}")

    def signature(self, number: int, target_id: str) -> str | None:
        """The controller's stored signature of one target's rendered state, or None."""
        with self.db.connection() as conn:
            return rows.rendered_signature(conn, number, target_id)

    @property
    def _sign(self) -> Callable[[int, str, bytes], tuple[str, str]] | None:
        key = self.signer
        if key is None:
            return None
        key_id = key_id_of(key.public_key())
        return lambda number, target, state: (key_id, sign_state(key, target, number, state))

    @staticmethod
    def _unknown(number: int, latest: int) -> UnknownRevision:
        return UnknownRevision(f"no revision {number} (latest: {latest})")
