"""What pull keeps in the system of record, in-process on the pull group's PostgreSQL and Redis:
enrollments (the public key only) outlive an emptied Redis, re-enrolling revokes at once,
assignments only move forward, and the check-in desk records every refusal and hands the
agent the stored bytes with a fresh sequence."""

from __future__ import annotations

from typing import Any

import pytest

from contracts import FileSpec
from contracts.inventory import Inventory
from contracts.truth import RoleFile, SourceBundle
from producers.pull.assignments import Assignment, Assignments, bootstrap_id
from producers.pull.desk import REFUSED, CheckinDesk
from producers.pull.enrollment import Enrollment, known_target
from producers.store import refusals
from producers.truth.errors import UnknownTarget
from producers.truth.render import render_bytes
from producers.truth.revisions import RevisionStore
from tests.isolation import Isolated
from tests.producers.truth.conftest import RolledBack
from tests.workers.pull.conftest import pull_targets
from workers.pull.signing import signed_checkin

URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
TARGETS = pull_targets("rec", 3)


def publish(db: Any, motd: str) -> int:
    bundle = SourceBundle(
        inventory=Inventory(targets=TARGETS),
        roles={"base": RoleFile(resources=(FileSpec(path="/etc/motd", content=motd),))},
    )
    return RevisionStore(db).publish(bundle, author="tests", message=motd).revision.number


def test_an_enrollment_outlives_an_emptied_redis_and_keeps_only_the_public_key(
    pull: Isolated, db: RolledBack
) -> None:
    enrollment = Enrollment(db)
    credentials = enrollment.enroll("rec-0", URL)
    pull.redis.set("provision:probe", "1")

    pull.redis.flushdb()

    assert pull.redis.dbsize() == 0
    assert Enrollment(db).verify(signed_checkin(credentials, "rec-0")) is None
    stored = db.conn.execute("SELECT * FROM enrollments WHERE target = 'rec-0'").fetchall()
    assert len(stored) == 1 and credentials.public_key in repr(stored)
    assert credentials.private_key not in repr(stored), "never the private key"


def test_re_enrolling_revokes_the_old_key_at_once(db: RolledBack) -> None:
    enrollment = Enrollment(db)
    old = enrollment.enroll("rec-1", URL)
    new = enrollment.enroll("rec-1", URL)
    assert old.private_key != new.private_key and old.public_key != new.public_key
    assert enrollment.verify(signed_checkin(new, "rec-1")) is None
    refused = enrollment.verify(signed_checkin(old, "rec-1"))
    assert refused == "the proof was not made with the key enrolled for target 'rec-1'"
    assert enrollment.verify(signed_checkin(new, "rec-2")) == "target 'rec-2' is not enrolled"
    with pytest.raises(UnknownTarget, match="'ghost' is neither in the inventory"):
        enrollment.enroll("ghost", URL)
    assert known_target(db, "rec-2") == TARGETS[2]


def test_assignments_only_move_forward_and_bootstrap_never_overwrites(db: RolledBack) -> None:
    first, second = publish(db, "one\n"), publish(db, "two\n")
    assignments = Assignments(db)
    assert assignments.assign("rec-0", second, "c-new")
    assert not assignments.assign("rec-0", first, "c-old"), "never back"
    assert assignments.get("rec-0") == Assignment(second, "c-new")
    assert assignments.assign("rec-0", second, "c-again"), "the same revision may be re-assigned"
    assert assignments.bootstrap("rec-0", first) == Assignment(second, "c-again")
    assert assignments.bootstrap("rec-1", first) == Assignment(first, bootstrap_id(first))
    assert assignments.get("rec-2") is None
    mine = {t: a for t, a in assignments.all().items() if t.startswith("rec-")}  # plane's too
    assert mine == {
        "rec-0": Assignment(second, "c-again"),
        "rec-1": Assignment(first, bootstrap_id(first)),
    }


def test_the_desk_records_refusals_and_hands_out_the_stored_bytes_with_a_sequence(
    pull: Isolated, db: RolledBack
) -> None:
    revision = publish(db, "desk\n")
    Assignments(db).assign("rec-2", revision, "c-desk")
    credentials = Enrollment(db).enroll("rec-2", URL)
    desk = CheckinDesk(db, pull.redis, rate_per_s=1000, burst=1000)
    before = db.conn.execute("SELECT count(*) FROM checkin_refusals").fetchone()

    signed = signed_checkin(credentials, "rec-2")
    forged = desk.answer_request(signed.model_copy(update={"proof": "x" * 86}))
    first = desk.answer_request(signed_checkin(credentials, "rec-2"))
    pull.redis.flushdb()  # the limiter, the admissions log and the sequences: forgettable
    second = desk.answer_request(signed_checkin(credentials, "rec-2"))

    assert forged.refused == REFUSED and forged.state is None and forged.sequence is None
    after = db.conn.execute("SELECT count(*) FROM checkin_refusals").fetchone()
    assert before is not None and after is not None and after[0] == before[0] + 1
    latest = refusals.recent_refusals(db.conn, limit=1)[0]
    reason = "the proof was not made with the key enrolled for target 'rec-2'"
    assert (latest.target, latest.reason) == ("rec-2", reason)
    for reply in (first, second):
        assert reply.admitted and (reply.revision, reply.change_id) == (revision, "c-desk")
        assert reply.state is not None
        stored = RevisionStore(db).rendered(revision, "rec-2")
        assert reply.state.encode() == stored, "pull gets exactly the stored bytes"
        assert stored == render_bytes(RevisionStore(db).bundle(revision), "rec-2", revision)
        assert reply.target == TARGETS[2]
    assert first.sequence is not None and second.sequence is not None
    assert second.sequence > first.sequence, "a later check-in, a higher sequence"
