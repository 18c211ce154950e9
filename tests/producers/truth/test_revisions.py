"""The revision store in PostgreSQL: immutable, numbered without gaps, deduplicated, byte-exact."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from producers.truth.errors import UnknownRevision, UnknownTarget
from producers.truth.render import render_bytes
from producers.truth.revisions import RevisionStore
from producers.truth.source import load
from tests.isolation import ROOT
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


def test_revisions_and_their_bytes_refuse_to_change(store: RevisionStore) -> None:
    import psycopg

    store.publish(load(EXAMPLE), author="a", message="m")
    for statement in (
        "UPDATE revisions SET message = 'rewritten'",
        "DELETE FROM rendered_states",
        "TRUNCATE revisions CASCADE",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege), store.db.connection() as conn:
            conn.execute(statement)
    assert store.get(1).message == "m"


def variant(n: int) -> Any:
    """The example with one value changed: a distinct content hash per n."""
    base = load(EXAMPLE)
    dev = base.environments["dev"]
    env = dev.model_copy(update={"values": {**dev.values, "n": n}})
    return base.model_copy(update={"environments": {**base.environments, "dev": env}})


def test_concurrent_publishers_get_distinct_sequences_without_gaps(store: RevisionStore) -> None:
    """Eight threads, each on its own connection, publish at once: 1..8, each once."""
    bundles = [variant(n) for n in range(8)]
    start = threading.Barrier(len(bundles))

    def publish(n: int) -> int:
        start.wait()
        return store.publish(bundles[n], author="a", message=str(n)).revision.number

    with ThreadPoolExecutor(max_workers=len(bundles)) as pool:
        sequences = sorted(pool.map(publish, range(len(bundles))))
    assert sequences == list(range(1, 9))
    listed = store.list()
    assert [r.number for r in listed] == list(range(1, 9))
    assert sorted(r.message for r in listed) == [str(n) for n in range(8)]
    for revision in listed:  # each number's bytes name that number and its own content
        number = revision.number
        rendered = store.rendered(number, "web-eu-prod")
        assert rendered == render_bytes(store.bundle(number), "web-eu-prod", number)


def test_racing_publishers_of_the_same_content_store_it_once(store: RevisionStore) -> None:
    same = variant(1)
    start = threading.Barrier(6)

    def publish(_: int) -> tuple[int, bool]:
        start.wait()
        published = store.publish(same, author="a", message="same")
        return published.revision.number, published.created

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(publish, range(6)))
    assert {number for number, _ in results} == {1}
    assert sum(created for _, created in results) == 1
    assert store.latest_number() == 1


#: A publisher process: ready, then waits for the start file, then publishes variant(N).
PUBLISHER = """
import sys, time
from pathlib import Path
from producers.store.database import Database
from producers.truth.revisions import RevisionStore
from tests.producers.truth.test_revisions import variant
bundle, store = variant(int(sys.argv[1])), RevisionStore(Database.open(max_size=1))
print("ready", flush=True)
while not Path(sys.argv[2]).exists():
    time.sleep(0.001)
print(store.publish(bundle, author="p", message=sys.argv[1]).revision.number, flush=True)
"""


def test_two_processes_publishing_at_once_get_consecutive_numbers(
    fresh_url: str, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    env = {**os.environ, "PROVISION_DATABASE_URL": fresh_url}
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", PUBLISHER, str(n), str(go)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    for run in runs:
        assert run.stdout is not None and run.stdout.readline() == "ready\n", run
    go.touch()
    outputs = [run.communicate(timeout=60) for run in runs]
    assert all(run.returncode == 0 for run in runs), outputs
    assert sorted(int(out) for out, _ in outputs) == [1, 2]


def test_a_layer_is_recorded_once_per_event(store: RevisionStore) -> None:
    from contracts import FileSpec
    from contracts.truth import Layer

    store.publish(load(EXAMPLE), author="a", message="base")
    layer = Layer(
        event_id="5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b",
        targets=("web-eu-prod",),
        resources=(FileSpec(path="/etc/hotfix", content="on\n"),),
    )
    first = store.record_layer(layer, author="svc")
    again = store.record_layer(layer, author="svc")
    assert first.created and first.revision.number == 2
    assert not again.created and again.revision == first.revision
    assert first.revision.message == f"event {layer.event_id}"
    assert store.latest_number() == 2
