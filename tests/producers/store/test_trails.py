"""Rollouts and their transitions, compliance history, refusals and the audit chain."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from contracts import OutcomeStatus, limits
from contracts.events import RolloutState
from producers.store import audit, compliance, outcomes, refusals, rollout_status, rollouts
from producers.store.compliance import Observation
from tests.producers.store.factories import T0, outcome, received, target


def _plan() -> list[rollouts.PlannedWave]:
    return [
        rollouts.PlannedWave((target("a"),), 0),
        rollouts.PlannedWave((target("c"), target("b")), 1),
    ]


def test_a_rollout_keeps_its_plan_and_every_transition(db: psycopg.Connection) -> None:
    assert rollouts.create(
        db, "r1", event_json="{}", issued_by="ops", waves=_plan(), trace={"traceparent": "x"}
    )
    assert not rollouts.create(db, "r1", event_json="{}", issued_by="ops", waves=[])
    assert rollouts.set_state(db, "r1", RolloutState.RUNNING, "wave 0")
    assert not rollouts.set_state(db, "r1", RolloutState.RUNNING, "wave 0")  # unchanged
    assert rollouts.set_state(db, "r1", RolloutState.HALTED, "wave 1: 2 failures > 1")
    assert rollouts.set_state(db, "r1", RolloutState.ABORTED, "by ops")
    assert not rollouts.set_state(db, "r1", RolloutState.RUNNING, "resume")  # final
    assert not rollouts.set_state(db, "nope", RolloutState.RUNNING)
    steps = rollouts.transitions(db, "r1")
    assert [(t.from_state, t.to_state, t.reason) for t in steps] == [
        (None, RolloutState.PLANNED, "planned"),
        (RolloutState.PLANNED, RolloutState.RUNNING, "wave 0"),
        (RolloutState.RUNNING, RolloutState.HALTED, "wave 1: 2 failures > 1"),
        (RolloutState.HALTED, RolloutState.ABORTED, "by ops"),
    ]
    assert [t.at for t in steps] == sorted(t.at for t in steps)
    loaded = rollout_status.load(db, "r1")
    assert loaded is not None and loaded.state == RolloutState.ABORTED
    assert loaded.waves == ((("a",), 0), (("c", "b"), 1))
    assert set(loaded.targets) == {"a", "b", "c"} and loaded.trace == {"traceparent": "x"}
    assert rollout_status.load(db, "nope") is None
    with pytest.raises(psycopg.errors.InsufficientPrivilege), db.transaction():
        db.execute("DELETE FROM rollout_transitions")


def test_published_targets_are_marked_once_and_waves_count_outcomes(
    db: psycopg.Connection,
) -> None:
    rollouts.create(db, "r2", event_json="{}", issued_by="ops", waves=_plan(), revision=None)
    assert rollouts.mark_published(db, "r2", ["a", "b"]) == ["a", "b"]
    assert rollouts.mark_published(db, "r2", ["a", "c", "zz"]) == ["c"]
    assert rollouts.published(db, "r2") == {"a", "b", "c"}
    assert rollout_status.active(db).count("r2") == 1
    rollouts.advance_wave(db, "r2", 1)
    rollouts.pause_until(db, "r2", T0)
    loaded = rollout_status.load(db, "r2")
    assert loaded is not None and loaded.wave == 1 and loaded.next_wave_at == T0
    outcomes.record(
        db,
        [
            received(outcome("a", OutcomeStatus.CHANGED, change_id="r2"), 1, 0),
            received(outcome("b", OutcomeStatus.FAILED, change_id="r2"), 1, 1),
            received(outcome("b", OutcomeStatus.CHANGED, change_id="r2"), 1, 2),
        ],
    )
    counts = rollout_status.wave_counts(db, "r2")
    assert counts[0]["changed"] == 1 and counts[0]["pending"] == 0
    assert counts[1]["changed"] == 1 and counts[1]["failed"] == 0 and counts[1]["pending"] == 1


def test_a_rejected_event_is_recorded_under_its_id(db: psycopg.Connection) -> None:
    assert rollouts.reject(db, "r3", "selector picked no target")
    assert not rollouts.reject(db, "r3", "again")
    loaded = rollout_status.load(db, "r3")
    assert loaded is not None and loaded.state == RolloutState.REJECTED and loaded.waves == ()
    assert "r3" not in rollout_status.active(db)
    assert [t.to_state for t in rollouts.transitions(db, "r3")] == [RolloutState.REJECTED]


def test_compliance_standing_comes_from_the_latest_outcome_and_the_latest_sign_of_life(
    db: psycopg.Connection,
) -> None:
    compliance.observe(
        db,
        [
            Observation("web-1", "outcome", T0, "failed", 1, "pull", "r1", (), 60.0),
            Observation("web-1", "outcome", T0, "drifted", 2, "pull", "r2", ("/etc/motd",)),
            Observation("web-1", "superseded", T0 + timedelta(days=3650)),  # forged clock
            Observation("web-2", "checkin", T0, interval_s=30.0),
        ],
    )
    found = compliance.standings(db, ["web-1", "web-2", "web-3"])
    assert set(found) == {"web-1", "web-2"}
    one = found["web-1"]
    assert (one.state, one.revision, one.differed, one.interval_s) == (
        "drifted",
        2,
        ("/etc/motd",),
        60.0,
    )
    assert one.last_seen < T0 + timedelta(days=3650)  # receive time, not the target's clock
    assert found["web-2"].state is None and found["web-2"].interval_s == 30.0
    kinds = [o.kind for o in compliance.history(db, "web-1")]
    assert kinds == ["superseded", "outcome", "outcome"]
    with pytest.raises(psycopg.errors.CheckViolation), db.transaction():
        compliance.observe(db, [Observation("web-1", "checkin", T0, state="aligned")])


def test_refusals_and_rejected_events_are_bounded_and_counted(db: psycopg.Connection) -> None:
    refusals.refuse(db, "x" * 500, "bad token\x00" + "y" * 10_000)
    refusals.refuse(db, None, "not JSON")
    latest = refusals.recent_refusals(db, limit=2)
    assert latest[0].reason == "not JSON"
    assert len(latest[1].target or "") == 100 and len(latest[1].reason) == 4000
    assert "\x00" not in latest[1].reason

    body = b'{"event_id": "\x00' + b"A" * 1_000_000 + b'"}'
    assert refusals.reject_event(db, body, reason="event_id: not a UUID", source="events")
    assert not refusals.reject_event(db, body, reason="event_id: not a UUID", source="events")
    (stored,) = [e for e in refusals.rejected_events(db) if e.size == len(body)]
    assert stored.times == 2 and len(stored.excerpt) == refusals.EXCERPT_CHARS
    assert stored.digest.startswith("sha256:") and "\x00" not in stored.excerpt


def test_the_audit_trail_is_a_chain_that_shows_where_it_was_broken(
    db: psycopg.Connection,
) -> None:
    first = audit.append(db, actor="alice", action="enroll", subject="web-1")
    second = audit.append(db, actor="bob", action="rollout", subject="r1", detail={"waves": 3})
    assert second.prev_hash == first.hash and first.prev_hash == audit.GENESIS
    assert [e.id for e in audit.entries(db, after_id=first.id - 1)] == [first.id, second.id]
    assert audit.entries(db, after_id=first.id)[0].detail == {"waves": 3}
    assert audit.verify(db) is None
    with pytest.raises(psycopg.errors.InsufficientPrivilege), db.transaction():
        db.execute("UPDATE audit_log SET actor = 'mallory'")
    # Someone with the owner's rights goes around the trigger: the chain shows it.
    db.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
    db.execute("UPDATE audit_log SET actor = 'mallory' WHERE id = %s", (first.id,))
    assert audit.verify(db) == first.id


def test_refusals_keep_only_the_newest_and_refused_bodies_expire(
    db: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused input cannot grow the system of record without bound."""
    monkeypatch.setattr(limits, "REFUSALS_KEPT", 3)
    for n in range(5):
        refusals.refuse(db, f"t{n}", "not enrolled")
    assert [r.target for r in refusals.recent_refusals(db)] == ["t4", "t3", "t2"]
    refusals.reject_event(db, b"old", reason="bad", source="tests")
    db.execute("UPDATE rejected_events SET last_seen = now() - interval '8 days'")
    refusals.reject_event(db, b"new", reason="bad", source="tests")
    assert [e.excerpt for e in refusals.rejected_events(db)] == ["new"]
