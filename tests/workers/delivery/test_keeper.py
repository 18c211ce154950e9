"""The lock keeper keeps a held lock alive past its TTL, never revives a lock that changed
hands, and lets a dropped lock lapse. Against the real Redis (the session group's database)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from workers.delivery.guard import Guard
from workers.delivery.keeper import Keeper

TTL_S = 1.5


def _until(condition: Callable[[], bool], within_s: float = 10.0) -> bool:
    """Poll `condition` until it holds, at most `within_s` (bounded, event-driven)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_a_held_lock_is_refreshed_and_lapses_once_dropped(redis_client: Any) -> None:
    keeper = Keeper(Guard(redis_client)._refresh, TTL_S)
    key, token = f"test:keeper:{uuid.uuid4().hex}", "me"
    redis_client.set(key, token, px=int(TTL_S * 1000))
    keeper.hold(key, token)
    seen = [int(redis_client.pttl(key))]

    def refreshed_twice() -> bool:
        ttl = int(redis_client.pttl(key))
        if ttl > seen[-1]:  # the TTL went up: a refresh
            seen.append(ttl)
        else:
            seen[-1] = ttl
        return len(seen) >= 3

    assert _until(refreshed_twice), "the keeper refreshes a held lock"
    assert redis_client.get(key) == token
    keeper.drop(key)
    assert _until(lambda: redis_client.get(key) is None), "a dropped lock lapses by itself"


def test_the_keeper_never_extends_a_lock_that_changed_hands(redis_client: Any) -> None:
    keeper = Keeper(Guard(redis_client)._refresh, TTL_S)
    key = f"test:keeper:{uuid.uuid4().hex}"
    redis_client.set(key, "someone-else", px=int(TTL_S * 1000))
    keeper.hold(key, "mine")
    assert _until(lambda: redis_client.get(key) is None), "the other holder's lock lapses"
    keeper.drop(key)
