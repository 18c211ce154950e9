"""The revision store: immutable, numbered revisions of the source of truth in Redis.

Keys (all under the ledger's `provision:` prefix):

- `provision:state:revisions`: the latest sequence number (0 or absent: none yet);
- `provision:state:revision:<seq>`: a hash, written once: `content_hash`, `author`,
  `message`, `created_at` and `bundle` (the validated SourceBundle as canonical JSON);
- `provision:state:revision:<seq>:rendered`: a hash, written once with the revision:
  target id → the canonical bytes of that target's RenderedState.

Rendered bytes are stored at publish, so push (`provision apply --rev`) and pull (an agent
asking for its state) read the very same bytes rather than rendering twice.

Publishing runs under WATCH on the counter: sequences increase by one with no gaps, and a
revision key that already exists is never written again. Publishing content whose hash
equals the latest revision's stores nothing and returns that revision (`created=False`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis

from contracts.truth import Layer, Revision, SourceBundle, canonical_bytes, content_hash
from producers.ledger import PREFIX
from producers.truth.errors import UnknownRevision, UnknownTarget
from producers.truth.render import render_all

#: Every key of the store starts with this; tests pass their own to stay apart.
NAMESPACE = f"{PREFIX}:state"
#: The latest sequence number.
COUNTER_KEY = f"{NAMESPACE}:revisions"
_META = ("content_hash", "author", "message", "created_at")


def revision_key(sequence: int, namespace: str = NAMESPACE) -> str:
    """`provision:state:revision:<seq>`."""
    return f"{namespace}:revision:{sequence}"


def rendered_key(sequence: int, namespace: str = NAMESPACE) -> str:
    """`provision:state:revision:<seq>:rendered`."""
    return f"{revision_key(sequence, namespace)}:rendered"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _revision(sequence: int, values: Any) -> Revision:
    """A Revision from the HMGET of its metadata fields."""
    meta: dict[str, Any] = dict(zip(_META, (_text(v) for v in values), strict=True))
    return Revision.model_validate({"sequence": sequence, **meta})


@dataclass(frozen=True)
class Published:
    """What `publish` did: the revision, and whether it is new or the unchanged latest."""

    revision: Revision
    created: bool


class RevisionStore:
    """Reads and writes revisions in one Redis database (any `decode_responses`)."""

    def __init__(self, client: redis.Redis, namespace: str = NAMESPACE) -> None:
        self.redis = client
        self.namespace = namespace
        self.counter_key = f"{namespace}:revisions"

    def _key(self, sequence: int) -> str:
        return revision_key(sequence, self.namespace)

    def publish(
        self, bundle: SourceBundle, *, author: str, message: str, now: datetime | None = None
    ) -> Published:
        """Store `bundle` as the next revision, unless it equals the latest one."""
        digest = content_hash(bundle)
        created_at = (now or datetime.now(UTC)).astimezone(UTC)
        body = canonical_bytes(bundle).decode()
        outcome: dict[str, Any] = {}

        def attempt(pipe: Any) -> None:
            outcome.clear()  # WATCH may retry
            latest = int(_text(pipe.get(self.counter_key) or 0))
            if latest and _text(pipe.hget(self._key(latest), "content_hash")) == digest:
                outcome["existing"] = latest
                return
            sequence = latest + 1
            pipe.watch(self.counter_key, self._key(sequence))
            if pipe.exists(self._key(sequence)):
                if int(_text(pipe.get(self.counter_key) or 0)) != latest:
                    raise redis.WatchError("another revision was published meanwhile")
                raise RuntimeError(f"{self._key(sequence)} exists; the counter is behind")
            revision = Revision(
                sequence=sequence,
                content_hash=digest,
                author=author,
                message=message,
                created_at=created_at,
            )
            rendered = {k: v.decode() for k, v in render_all(bundle, sequence).items()}
            pipe.multi()
            pipe.hset(
                self._key(sequence),
                mapping={
                    "content_hash": digest,
                    "author": revision.author,
                    "message": revision.message,
                    "created_at": created_at.isoformat(),
                    "bundle": body,
                },
            )
            if rendered:
                pipe.hset(rendered_key(sequence, self.namespace), mapping=rendered)
            pipe.set(self.counter_key, sequence)
            outcome["new"] = revision

        self.redis.transaction(attempt, self.counter_key)
        if "existing" in outcome:
            return Published(self.get(outcome["existing"]), created=False)
        return Published(outcome["new"], created=True)

    def record_layer(self, layer: Layer, *, author: str) -> Published:
        """The latest revision plus `layer`, as a new revision (message: the event id).

        Idempotent per event: if the latest revision already holds a layer of this event
        (a controller that crashed after recording it), that revision is returned.
        """
        latest = self.latest_sequence()
        if not latest:
            raise UnknownRevision("no revision published yet: nothing to layer on")
        bundle = self.bundle(latest)
        if any(existing.event_id == layer.event_id for existing in bundle.layers):
            return Published(self.get(latest), created=False)
        layered = bundle.model_copy(update={"layers": (*bundle.layers, layer)})
        return self.publish(layered, author=author, message=f"event {layer.event_id}")

    def latest_sequence(self) -> int:
        """The latest sequence number, 0 when nothing is published."""
        return int(_text(self.redis.get(self.counter_key) or 0))

    def latest(self) -> Revision | None:
        """The latest revision, or None."""
        sequence = self.latest_sequence()
        return self.get(sequence) if sequence else None

    def resolve(self, ref: str | int | None) -> int:
        """A sequence from `3`, `"3"`, `"latest"` or None (latest). Raises UnknownRevision."""
        latest = self.latest_sequence()
        if not latest:
            raise UnknownRevision(
                "no revision published yet; run `provision state publish DIR -m MESSAGE`"
            )
        if ref is None or ref == "latest":
            return latest
        try:
            sequence = int(ref)
        except ValueError:
            raise UnknownRevision(f"revision {ref!r} is not a number or 'latest'") from None
        if not 1 <= sequence <= latest:
            raise UnknownRevision(f"no revision {sequence} (revisions: 1..{latest})")
        return sequence

    def get(self, sequence: int) -> Revision:
        """The metadata of one revision. Raises UnknownRevision."""
        values = self.redis.hmget(self._key(sequence), list(_META))
        if values[0] is None:
            raise UnknownRevision(f"no revision {sequence} (latest: {self.latest_sequence()})")
        return _revision(sequence, values)

    def list(self) -> list[Revision]:
        """Every revision, oldest first."""
        latest = self.latest_sequence()
        pipe = self.redis.pipeline(transaction=False)
        for sequence in range(1, latest + 1):
            pipe.hmget(self._key(sequence), list(_META))
        rows = pipe.execute() if latest else []
        return [_revision(seq, row) for seq, row in enumerate(rows, start=1) if row[0] is not None]

    def bundle(self, sequence: int) -> SourceBundle:
        """The validated source bundle stored with a revision. Raises UnknownRevision."""
        raw = self.redis.hget(self._key(sequence), "bundle")
        if raw is None:
            raise UnknownRevision(f"no revision {sequence} (latest: {self.latest_sequence()})")
        return SourceBundle.model_validate_json(_text(raw))

    def rendered(self, sequence: int, target_id: str) -> bytes:
        """The stored canonical bytes of one target's RenderedState at one revision."""
        raw = self.redis.hget(rendered_key(sequence, self.namespace), target_id)
        if raw is None:
            self.get(sequence)  # an unknown revision says so first
            raise UnknownTarget(f"no target {target_id!r} at revision {sequence}")
        return raw if isinstance(raw, bytes) else raw.encode()
