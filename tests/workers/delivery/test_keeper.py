"""The lock keeper keeps a held lock alive past its TTL, never revives a lock that changed
hands, and lets a dropped lock lapse. Against the real Redis (the session group's database)."""

from __future__ import annotations

import uuid
from typing import Any

from tests.isolation import wait_until
from workers.delivery.guard import Guard
from workers.delivery.keeper import Keeper

TTL_S = 1.5


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

    wait_until(refreshed_twice, 10, "two refreshes of a held lock")
    assert redis_client.get(key) == token
    keeper.drop(key)
    wait_until(lambda: redis_client.get(key) is None, 10, "the dropped lock to lapse")


def test_the_keeper_never_extends_a_lock_that_changed_hands(redis_client: Any) -> None:
    keeper = Keeper(Guard(redis_client)._refresh, TTL_S)
    key = f"test:keeper:{uuid.uuid4().hex}"
    redis_client.set(key, "someone-else", px=int(TTL_S * 1000))
    keeper.hold(key, "mine")
    wait_until(lambda: redis_client.get(key) is None, 10, "the other holder's lock to lapse")
    keeper.drop(key)
