"""The revision store in Redis (db 15): immutable, increasing, deduplicated, byte-exact."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from producers.truth.errors import UnknownRevision, UnknownTarget
from producers.truth.render import render_bytes
from producers.truth.revisions import RevisionStore
from producers.truth.source import load
from tests.producers.truth.conftest import EXAMPLE, edit


def test_sequences_increase_and_identical_content_is_not_stored_twice(
    store: RevisionStore, truth_dir: Path
) -> None:
    first = store.publish(load(truth_dir), author="alice", message="first")
    assert first.created and first.revision.number == 1
    again = store.publish(load(truth_dir), author="bob", message="same again")
    assert not again.created and again.revision == first.revision

    edit(truth_dir / "environments" / "dev.yaml", lambda d: d["values"].update(extra=1))
    second = store.publish(load(truth_dir), author="bob", message="second")
    assert second.created and second.revision.number == 2
    assert second.revision.content_hash != first.revision.content_hash
    assert [r.number for r in store.list()] == [1, 2]
    assert store.latest() == second.revision


def test_going_back_to_older_content_is_a_new_revision(
    store: RevisionStore, truth_dir: Path
) -> None:
    original = load(truth_dir)
    store.publish(original, author="a", message="1")
    edit(truth_dir / "environments" / "dev.yaml", lambda d: d["values"].update(extra=1))
    store.publish(load(truth_dir), author="a", message="2")
    back = store.publish(original, author="a", message="revert")
    assert back.created and back.revision.number == 3
    assert back.revision.content_hash == store.get(1).content_hash


def test_revisions_are_immutable(store: RevisionStore, truth_dir: Path) -> None:
    store.publish(load(truth_dir), author="alice", message="first")
    before = (store.get(1), store.bundle(1), store.rendered(1, "web-eu-prod"))
    edit(truth_dir / "roles" / "web.yaml", lambda d: d["resources"].pop())
    store.publish(load(truth_dir), author="alice", message="second")
    assert (store.get(1), store.bundle(1), store.rendered(1, "web-eu-prod")) == before


def test_metadata_is_kept(store: RevisionStore) -> None:
    now = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
    revision = store.publish(load(EXAMPLE), author="alice", message="why", now=now).revision
    assert store.get(revision.number) == revision
    assert (revision.author, revision.message, revision.created_at) == ("alice", "why", now)
    assert revision.content_hash.startswith("sha256:") and len(revision.content_hash) == 71


def test_push_and_pull_read_the_stored_bytes_which_equal_a_fresh_render(
    store: RevisionStore,
) -> None:
    bundle = load(EXAMPLE)
    sequence = store.publish(bundle, author="a", message="m").revision.number
    for target in bundle.inventory.targets:
        stored = store.rendered(sequence, target.id)
        assert stored == render_bytes(bundle, target.id, sequence)
        assert stored == render_bytes(store.bundle(sequence), target.id, sequence)


def test_a_bytes_client_reads_the_same(store: RevisionStore, redis_url: str) -> None:
    import redis

    store.publish(load(EXAMPLE), author="a", message="m")
    raw = RevisionStore(redis.Redis.from_url(redis_url), namespace=store.namespace)
    assert raw.rendered(1, "db-us-prod") == store.rendered(1, "db-us-prod")
    assert raw.get(1) == store.get(1)


def test_unknown_revisions_and_targets_are_named(store: RevisionStore) -> None:
    with pytest.raises(UnknownRevision, match="no revision published yet"):
        store.resolve(None)
    store.publish(load(EXAMPLE), author="a", message="m")
    assert store.resolve("latest") == store.resolve(None) == store.resolve("1") == 1
    with pytest.raises(UnknownRevision, match=r"no revision 9 \(revisions: 1..1\)"):
        store.resolve("9")
    with pytest.raises(UnknownRevision):
        store.rendered(9, "web-eu-prod")
    with pytest.raises(UnknownTarget, match="ghost"):
        store.rendered(1, "ghost")


def test_the_default_keys_are_the_documented_ones(redis_client: Any) -> None:
    from producers.truth import revisions

    assert RevisionStore(redis_client).counter_key == revisions.COUNTER_KEY


def test_concurrent_publishers_get_distinct_sequences_without_gaps(
    store: RevisionStore, redis_url: str
) -> None:
    import redis

    base = load(EXAMPLE)
    dev = base.environments["dev"]

    def variant(n: int) -> Any:
        env = dev.model_copy(update={"values": {**dev.values, "n": n}})
        return base.model_copy(update={"environments": {**base.environments, "dev": env}})

    def publish(n: int) -> int:
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        own = RevisionStore(client, namespace=store.namespace)
        return own.publish(variant(n), author="a", message=str(n)).revision.number

    with ThreadPoolExecutor(max_workers=8) as pool:
        sequences = sorted(pool.map(publish, range(8)))
    assert sequences == list(range(1, 9))
    assert sorted(r.message for r in store.list()) == [str(n) for n in range(8)]
