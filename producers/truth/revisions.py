"""The revision store: immutable, numbered revisions of the source of truth in Redis.

Keys (all under the ledger's `provision:` prefix):

- `provision:state:revisions`: the latest revision number (0 or absent: none yet);
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

from broker_config import redis_keys
from broker_config.redis_keys import rendered_key, revision_key
from contracts.truth import Layer, Revision, SourceBundle, canonical_bytes, content_hash
from producers.truth.errors import UnknownRevision, UnknownTarget
from producers.truth.render import render_all

#: Every key of the store starts with this; tests pass their own to stay apart.
NAMESPACE = redis_keys.STATE
#: The latest revision number.
COUNTER_KEY = redis_keys.revisions_counter(NAMESPACE)
_META = ("content_hash", "author", "message", "created_at")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _revision(number: int, values: Any) -> Revision:
    """A Revision from the HMGET of its metadata fields."""
    meta: dict[str, Any] = dict(zip(_META, (_text(v) for v in values), strict=True))
    return Revision.model_validate({"number": number, **meta})


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

    def _key(self, number: int) -> str:
        return revision_key(number, self.namespace)

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
            number = latest + 1
            pipe.watch(self.counter_key, self._key(number))
            if pipe.exists(self._key(number)):
                if int(_text(pipe.get(self.counter_key) or 0)) != latest:
                    raise redis.WatchError("another revision was published meanwhile")
                raise RuntimeError(f"{self._key(number)} exists; the counter is behind")
            revision = Revision(
                number=number,
                content_hash=digest,
                author=author,
                message=message,
                created_at=created_at,
            )
            rendered = {k: v.decode() for k, v in render_all(bundle, number).items()}
            pipe.multi()
            pipe.hset(
                self._key(number),
                mapping={
                    "content_hash": digest,
                    "author": revision.author,
                    "message": revision.message,
                    "created_at": created_at.isoformat(),
                    "bundle": body,
                },
            )
            if rendered:
                pipe.hset(rendered_key(number, self.namespace), mapping=rendered)
            pipe.set(self.counter_key, number)
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
        latest = self.latest_number()
        if not latest:
            raise UnknownRevision("no revision published yet: nothing to layer on")
        bundle = self.bundle(latest)
        if any(existing.event_id == layer.event_id for existing in bundle.layers):
            return Published(self.get(latest), created=False)
        layered = bundle.model_copy(update={"layers": (*bundle.layers, layer)})
        return self.publish(layered, author=author, message=f"event {layer.event_id}")

    def latest_number(self) -> int:
        """The latest revision number, 0 when nothing is published."""
        return int(_text(self.redis.get(self.counter_key) or 0))

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
        values = self.redis.hmget(self._key(number), list(_META))
        if values[0] is None:
            raise UnknownRevision(f"no revision {number} (latest: {self.latest_number()})")
        return _revision(number, values)

    def list(self) -> list[Revision]:
        """Every revision, oldest first."""
        latest = self.latest_number()
        pipe = self.redis.pipeline(transaction=False)
        for number in range(1, latest + 1):
            pipe.hmget(self._key(number), list(_META))
        rows = pipe.execute() if latest else []
        return [_revision(seq, row) for seq, row in enumerate(rows, start=1) if row[0] is not None]

    def bundle(self, number: int) -> SourceBundle:
        """The validated source bundle stored with a revision. Raises UnknownRevision."""
        raw = self.redis.hget(self._key(number), "bundle")
        if raw is None:
            raise UnknownRevision(f"no revision {number} (latest: {self.latest_number()})")
        return SourceBundle.model_validate_json(_text(raw))

    def rendered(self, number: int, target_id: str) -> bytes:
        """The stored canonical bytes of one target's RenderedState at one revision."""
        raw = self.redis.hget(rendered_key(number, self.namespace), target_id)
        if raw is None:
            self.get(number)  # an unknown revision says so first
            raise UnknownTarget(f"no target {target_id!r} at revision {number}")
        return raw if isinstance(raw, bytes) else raw.encode()
