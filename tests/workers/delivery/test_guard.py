"""The guard's two round trips: `begin` counts, reads and locks; `record` records, fences and
releases. Against the real Redis (the session group's database)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from broker_config import redis_keys
from contracts import OutcomeEvent, OutcomeStatus
from workers.delivery.guard import MAX_DELIVERIES, Guard, LockBusy


@pytest.fixture
def guard(redis_client: Any) -> Guard:
    return Guard(redis_client)


def _ids() -> tuple[str, str, str]:
    return str(uuid.uuid4()), f"c-{uuid.uuid4().hex[:8]}", f"t-{uuid.uuid4().hex[:8]}"


def _outcome(change_id: str, target: str) -> OutcomeEvent:
    now = datetime.now(UTC)
    return OutcomeEvent(
        outcome_id=str(uuid.uuid4()),
        change_id=change_id,
        target=target,
        status=OutcomeStatus.CHANGED,
        attempts=1,
        worker="w",
        started_at=now,
        finished_at=now,
    )


def test_begin_takes_the_lock_and_a_second_begin_finds_it_busy(guard: Guard) -> None:
    task, change, target = _ids()
    first = guard.begin(task, "0:0", change, target, lock=True)
    assert first.token is not None and first.starts == 1 and first.recorded is None
    assert guard.redis.get(redis_keys.LOCK.format(target=target)) == first.token
    second = guard.begin(str(uuid.uuid4()), "0:0", change, target, lock=True)
    assert second.token is None
    with pytest.raises(LockBusy), guard.lock(target):
        pass


def test_record_releases_the_lock_in_the_same_trip(guard: Guard) -> None:
    task, change, target = _ids()
    begun = guard.begin(task, "0:0", change, target, lock=True)
    key = redis_keys.LOCK.format(target=target)
    with guard.lock(target, begun.token):
        guard.record(_outcome(change, target), 7)
        assert guard.redis.get(key) is None, "record released the lock"
        again = guard.begin(task, "1:0", change, target, lock=True)
        assert again.token is None and again.recorded is not None
    assert guard.redis.get(redis_keys.FENCE.format(target=target)) == "7"


def test_begin_does_not_lock_a_recorded_or_poison_request(guard: Guard) -> None:
    task, change, target = _ids()
    guard.record(_outcome(change, target), None)
    assert guard.begin(task, "0:0", change, target, lock=True).token is None
    task, change, target = _ids()
    for _ in range(MAX_DELIVERIES):
        with guard.lock(target, guard.begin(task, "0:0", change, target, lock=True).token):
            pass  # each start released as its block ends
    poison = guard.begin(task, "0:0", change, target, lock=True)
    assert poison.starts == MAX_DELIVERIES + 1 and poison.token is None
    assert guard.redis.get(redis_keys.LOCK.format(target=target)) is None


def test_a_lock_left_by_begin_is_released_when_nothing_was_recorded(guard: Guard) -> None:
    task, change, target = _ids()
    begun = guard.begin(task, "0:0", change, target, lock=True)
    with guard.lock(target, begun.token):
        pass
    assert guard.redis.get(redis_keys.LOCK.format(target=target)) is None
