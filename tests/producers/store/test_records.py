"""Revisions, the inventory, enrollments, assignments and the book of changes."""

from __future__ import annotations

import hashlib
import threading
from datetime import timedelta

import psycopg
import pytest

from contracts import proofs
from producers.store import assignments, changes, enrollments, inventory, revisions
from tests.producers.store.factories import T0, target


def _hash(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _publish(db: psycopg.Connection, body: str, rendered: dict[str, bytes] | None = None):  # type: ignore[no-untyped-def]
    return revisions.publish(
        db,
        content_hash=_hash(body),
        author="alice",
        message=f"publish {body}",
        created_at=T0,
        bundle_json=body,
        rendered=rendered or {},
    )


def test_revisions_are_numbered_without_gaps_and_keep_the_exact_bytes(
    db: psycopg.Connection,
) -> None:
    base = revisions.latest_sequence(db)  # other tests of the run may have published
    state = b'{"b":1,"a":"\xc3\xa9"}\n'
    first, created = _publish(db, '{"v":1}', {"web-1": state, "web-2": b"{}"})
    assert created and first.number == base + 1 and first.author == "alice"
    same, created = _publish(db, '{"v":1}')
    assert not created and same == first
    second, created = _publish(db, '{"v":2}')
    assert created and second.number == base + 2
    assert revisions.latest_sequence(db) == base + 2
    assert [r.number for r in revisions.all_revisions(db)] == list(range(1, base + 3))
    assert revisions.rendered(db, base + 1, "web-1") == state
    assert revisions.rendered(db, base + 2, "web-1") is None
    assert revisions.bundle_json(db, base + 2) == '{"v":2}'
    assert revisions.get(db, base + 3) is None
    with pytest.raises(psycopg.errors.InsufficientPrivilege), db.transaction():
        db.execute("UPDATE revisions SET author = 'mallory'")


def test_concurrent_publishers_get_consecutive_numbers(store_url: str) -> None:
    tag = hashlib.sha256(store_url.encode() + b"race").hexdigest()[:8]
    got: list[int] = []

    def publish(n: int) -> None:
        with psycopg.connect(store_url) as conn:
            revision, _ = _publish(conn, f'{{"race":"{tag}","n":{n}}}')
            got.append(revision.number)

    with psycopg.connect(store_url) as conn:
        before = revisions.latest_sequence(conn)
    threads = [threading.Thread(target=publish, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(got) == list(range(before + 1, before + 5))


def test_inventory_replace_reports_what_changed(db: psycopg.Connection) -> None:
    counts = inventory.replace(db, [target("a"), target("b"), target("c")])
    assert (counts.added, counts.updated, counts.removed, counts.total) == (3, 0, 0, 3)
    counts = inventory.replace(db, [target("a"), target("b", region="us"), target("d")])
    assert (counts.added, counts.updated, counts.removed, counts.total) == (1, 1, 1, 3)
    assert [t.id for t in inventory.all_targets(db)] == ["a", "b", "d"]
    found = inventory.get(db, "b")
    assert found is not None and found.region == "us"
    assert inventory.get(db, "c") is None


def test_enrolling_again_rotates_the_public_key(db: psycopg.Connection) -> None:
    (_, first), (_, second) = proofs.new_key_pair(), proofs.new_key_pair()
    enrollments.enroll(db, "web-1", first, T0)
    enrollments.enroll(db, "web-1", second, T0 + timedelta(minutes=1))
    enrolled = enrollments.get(db, "web-1")
    assert enrolled is not None and enrolled.public_key == second
    assert enrolled.enrolled_at == T0 + timedelta(minutes=1)
    assert enrollments.get(db, "web-2") is None
    with pytest.raises(psycopg.errors.CheckViolation), db.transaction():
        enrollments.enroll(db, "web-2", "-----BEGIN PRIVATE KEY-----", T0)  # only a public key


def test_a_nonce_is_used_once_until_it_expires(db: psycopg.Connection) -> None:
    nonce, later = "n" * 22, T0 + timedelta(minutes=5)
    assert enrollments.first_use(db, "web-1", nonce, later)
    assert not enrollments.first_use(db, "web-1", nonce, later), "the second use is refused"
    assert enrollments.first_use(db, "web-2", nonce, later), "nonces are per target"
    assert enrollments.forget_expired(db, T0) == 0
    assert enrollments.forget_expired(db, later + timedelta(seconds=1)) == 2
    with pytest.raises(psycopg.errors.CheckViolation), db.transaction():
        enrollments.first_use(db, "web-1", "short", later)


def test_assignments_and_applied_revisions_only_move_forward(db: psycopg.Connection) -> None:
    for n in (1, 2, 3):
        _publish(db, f'{{"assign":{n}}}')
    latest = revisions.latest_sequence(db)
    assert assignments.assign(db, "web-1", latest - 1, "r1")
    assert assignments.assign(db, "web-1", latest, "r2")
    assert not assignments.assign(db, "web-1", latest - 2, "r0")  # a slow, older rollout
    current = assignments.assigned(db, "web-1")
    assert current is not None and (current.revision, current.change_id) == (latest, "r2")
    assert set(assignments.all_assigned(db)) == {"web-1"}
    with pytest.raises(psycopg.errors.ForeignKeyViolation), db.transaction():
        assignments.assign(db, "web-2", latest + 100, "r9")  # no such revision

    assert assignments.record_applied(db, "web-1", 2, "r1", "ev-1")
    assert not assignments.record_applied(db, "web-1", 1, "r0", "ev-0")
    assert not assignments.record_applied(db, "web-1", 2, "r1", "ev-1")
    applied = assignments.applied(db, "web-1")
    assert applied is not None and applied.revision == 2


def test_a_change_keeps_its_targets_in_order(db: psycopg.Connection) -> None:
    changes.open_change(db, "c1", ["b", "a", "b"], issued_by="ops", issued_at=T0)
    changes.open_change(
        db, "c2", [], issued_by="ops", issued_at=T0 + timedelta(hours=1), dry_run=True
    )
    change = changes.get(db, "c1")
    assert change is not None and change.targets == ("b", "a") and not change.dry_run
    empty = changes.get(db, "c2")
    assert empty is not None and empty.targets == () and empty.dry_run
    assert changes.get(db, "nope") is None
    assert changes.recent(db, limit=2)[:2] == ["c2", "c1"]
