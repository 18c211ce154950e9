"""`provision trace`'s reading of the records: one change's moments in order, failed targets
grouped by reason, and change ids found from the prefix on-call types."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts import ErrorInfo, OutcomeEvent, OutcomeStatus, ResourceOutcome, Target
from contracts.events import ChangeEvent, RolloutState
from contracts.outcomes import ResourceStatus, Retry
from producers.errors import AmbiguousChange, UnknownChange
from producers.records.failures import failed_by_reason
from producers.records.ledger import Ledger
from producers.records.moments import KINDS
from producers.records.timeline import resolve_change_id, timeline
from producers.store import rollouts as books
from producers.store.rollouts import PlannedWave
from tests.producers.store import factories

NOW = datetime.now(UTC)
FILE = ({"kind": "file", "path": "/etc/app.conf", "content": "x\n"},)


def target(name: str) -> Target:
    return Target(id=name, region="eu", environment="test", address=f"local:///t/{name}")


def outcome(change_id: str, name: str, status: OutcomeStatus, **fields: Any) -> OutcomeEvent:
    """An outcome of `change_id` that started at NOW, took a second and waited 0.25 s."""
    values: dict[str, Any] = {
        "started_at": NOW,
        "finished_at": NOW + timedelta(seconds=1),
        "worker": "eu-1@host",
        "sequence": 1,
        "queue_wait_s": 0.25,
    }
    return factories.outcome(name, status, change_id=change_id, **values | fields)


def rollout(database: Any, change_id: str, waves: list[list[str]]) -> None:
    """A rollout planned, running, and every target published, as a controller leaves it
    (`change_id`: a UUID, as every change event's)."""
    plan = [PlannedWave(tuple(target(n) for n in wave), 0) for wave in waves]
    with database.connection() as conn:
        fields = {"event_id": change_id, "issued_by": "deploy-bot", "resources": FILE}
        event = ChangeEvent.model_validate(fields)
        kept = event.model_dump_json()
        assert books.create(conn, change_id, event_json=kept, issued_by="deploy-bot", waves=plan)
        books.set_state(conn, change_id, RolloutState.RUNNING)
        for wave in waves:
            assert books.mark_published(conn, change_id, wave) == sorted(wave)
    Ledger(database).open_change(
        change_id, [n for w in waves for n in w], issued_by="deploy-bot", issued_at=NOW
    )


BROKEN = ErrorInfo(type="CommandFailed", message="reload exited 1", transient=False)


def test_a_failed_target_is_told_from_receipt_to_outcome(database: Any) -> None:
    cid = str(uuid.uuid4())
    rollout(database, cid, [["c1"], ["c2", "c3"]])
    ledger = Ledger(database)
    t0 = datetime.now(UTC)

    def after(seconds: float) -> datetime:
        return t0 + timedelta(seconds=seconds)

    ledger.record(outcome(cid, "c1", OutcomeStatus.CHANGED))
    tried = Retry(
        attempt=1,
        worker="eu-2@host",
        received_at=after(0.1),
        queue_wait_s=0.5,
        at=after(0.2),
        reason="TargetUnreachable: no route",
        backoff_s=1.5,
    )
    failed = outcome(
        cid,
        "c2",
        OutcomeStatus.FAILED,
        attempts=2,
        error=BROKEN,
        retries=(tried,),
        resources=(
            ResourceOutcome(kind="file", path="/etc/a", status=ResourceStatus.CHANGED),
            ResourceOutcome(kind="command", path="reload", status=ResourceStatus.FAILED),
        ),
        trace_id="ab" * 16,
        started_at=after(2),
        finished_at=after(3),
    )
    ledger.record(failed, after(4))
    with database.connection() as conn:
        books.set_state(conn, cid, RolloutState.HALTED, "wave 2: 1 failure(s), budget 0")

    moments = timeline(database, cid, target="c2")
    kinds = [m.kind for m in moments]
    assert set(kinds) <= set(KINDS)
    for expected in ("received", "admitted", "planned", "wave_started", "published", "retry"):
        assert expected in kinds, (expected, kinds)
    assert kinds.count("received_by_worker") == 2 and "wave_halted" in kinds
    assert kinds[0] == "received" and "deploy-bot" in moments[0].detail
    assert all(m.target in (None, "c2") for m in moments), "only c2 and the change's own"
    assert [m.time for m in moments] == sorted(m.time for m in moments)
    assert all(m.time.tzinfo is not None and m.time.utcoffset() == timedelta(0) for m in moments)
    retry = next(m for m in moments if m.kind == "retry")
    assert "TargetUnreachable" in retry.detail and "1.50s" in retry.detail
    assert any("eu-2@host" in m.detail and "0.50s" in m.detail for m in moments)
    applied = [m.detail for m in moments if m.kind == "applied"]
    assert any("reload: failed" in d for d in applied)
    last = next(m for m in moments if m.kind == "outcome")
    assert "CommandFailed" in last.detail and "ab" * 16 in last.detail
    halted = next(m for m in moments if m.kind == "wave_halted")
    assert halted.detail.startswith("wave 2 halted")
    started = [m.detail for m in moments if m.kind == "wave_started"]
    assert started == ["wave 2: 2 target(s)"], "only the target's own wave"

    everything = timeline(database, cid)
    assert {m.target for m in everything} == {None, "c1", "c2", "c3"}
    assert any(m.kind == "wave_completed" and "wave 1" in m.detail for m in everything)
    assert not any(m.kind == "wave_completed" and "wave 2" in m.detail for m in everything)
    assert timeline(database, f"none-{uuid.uuid4()}") == []


def test_refused_and_dead_lettered_and_superseded(database: Any) -> None:
    cid = str(uuid.uuid4())
    with database.connection() as conn:
        books.reject(conn, cid, "resources.0.path: must be absolute")
    moments = timeline(database, cid)
    assert [m.kind for m in moments] == ["received", "refused"]
    assert "must be absolute" in moments[1].detail

    cid = str(uuid.uuid4())
    rollout(database, cid, [["d1", "d2"]])
    ledger = Ledger(database)
    why = ErrorInfo(type="RejectedRequest", message="expired at 2026", transient=False)
    ledger.record(outcome(cid, "d1", OutcomeStatus.REJECTED, error=why))
    older = ErrorInfo(type="Superseded", message="sequence 1 is older than 4", transient=False)
    ledger.record(outcome(cid, "d2", OutcomeStatus.SUPERSEDED, error=older))
    kinds = {(m.kind, m.target) for m in timeline(database, cid)}
    assert ("dead_lettered", "d1") in kinds and ("superseded", "d2") in kinds


def test_failed_targets_group_by_reason_most_first(database: Any) -> None:
    cid = str(uuid.uuid4())
    names = ["f1", "f2", "f3", "f4"]
    rollout(database, cid, [names])
    ledger = Ledger(database)
    for name in ("f1", "f2", "f3"):
        own = ErrorInfo(type="CommandFailed", message=f"{name}: reload exited 1", transient=False)
        ledger.record(outcome(cid, name, OutcomeStatus.FAILED, error=own))
    ledger.record(outcome(cid, "f4", OutcomeStatus.NOT_READY, error=BROKEN))
    groups = failed_by_reason(database, cid)
    assert groups[0] == ("failed: CommandFailed: <target>: reload exited 1", ["f1", "f2", "f3"])
    assert groups[1][1] == ["f4"] and groups[1][0].startswith("not_ready")
    # a later success takes the target out of the failures
    ledger.record(outcome(cid, "f1", OutcomeStatus.CHANGED, sequence=2))
    assert failed_by_reason(database, cid)[0][1] == ["f2", "f3"]


def test_a_unique_prefix_finds_the_change(database: Any) -> None:
    stem = uuid.uuid4().hex[:10]
    first, second = f"{stem}a-{uuid.uuid4()}", f"{stem}b-{uuid.uuid4()}"
    ledger = Ledger(database)
    for cid in (first, second):
        ledger.open_change(cid, ["x"], issued_by="t", issued_at=NOW)
    assert resolve_change_id(database, first[: len(stem) + 1]) == first
    assert resolve_change_id(database, second) == second
    with pytest.raises(AmbiguousChange) as ambiguous:
        resolve_change_id(database, stem)
    assert first in str(ambiguous.value) and second in str(ambiguous.value)
    with pytest.raises(UnknownChange, match="no change matches"):
        resolve_change_id(database, f"zz{uuid.uuid4().hex}")
    with pytest.raises(UnknownChange, match="no change matches"):
        resolve_change_id(database, "%")  # taken literally, not as a pattern
    # an id only an outcome names (a change nobody booked) is found too
    lone = f"{uuid.uuid4().hex}-lone"
    ledger.record(outcome(lone, "x", OutcomeStatus.CHANGED))
    assert resolve_change_id(database, lone[:12]) == lone


def test_a_hostile_detail_is_one_printable_line(database: Any) -> None:
    cid = str(uuid.uuid4())
    rollout(database, cid, [["h1"]])
    forged = ErrorInfo(type="X", message="line\nbreak \x1b[2J cleared", transient=False)
    Ledger(database).record(outcome(cid, "h1", OutcomeStatus.FAILED, error=forged))
    last = [m for m in timeline(database, cid, target="h1") if m.kind == "outcome"][-1]
    assert "\x1b" not in last.detail and "\n" not in last.detail
    assert "line break" in last.detail
