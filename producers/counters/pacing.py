"""Pacing shared by every controller process: in-flight caps and rates per (rollout, region).

Both live in Redis, so the limits hold however many controllers or workers there are,
and they survive a controller restart. Time is Redis's own (`TIME`), never a local clock.
"""

from __future__ import annotations

import redis

# KEYS[1]=in-flight zset. ARGV: member, limit, lease seconds. Expired leases are dropped.
_ACQUIRE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1e6
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 1 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], t + tonumber(ARGV[3]), ARGV[1])
return 1
"""

# GCRA. KEYS[1]=theoretical arrival time. ARGV: rate per second, burst.
# Returns {seconds to wait (0 when admitted now), the Redis time of the decision}.
# Safe against any rate and any stored value: the interval is at most a day, the stored
# time never more than MAX_AHEAD_S ahead, so the expiry always fits (1e-20/s once
# overflowed PX and wedged the controller).
_RATE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1e6
local rate = tonumber(ARGV[1])
if not rate or rate ~= rate or rate <= 0 then return redis.error_reply('rate must be > 0') end
local interval = math.min(1 / rate, 86400)
local burst = math.max(0, math.min(tonumber(ARGV[2]) or 0, 1000000))
local tat = tonumber(redis.call('GET', KEYS[1])) or t
if tat ~= tat or tat < t then tat = t end
if tat > t + 2 * 86400 then tat = t + 2 * 86400 end
local allow_at = tat - interval * burst
if allow_at > t then return {tostring(allow_at - t), tostring(t)} end
local new_tat = tat + interval
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil((new_tat - t) * 1000) + 1000)
return {'0', tostring(t)}
"""


class Pacer:
    """In-flight leases and a rate limit, keyed by whatever the caller names."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._acquire = client.register_script(_ACQUIRE)
        self._rate = client.register_script(_RATE)

    def acquire(self, key: str, member: str, limit: int, lease_s: float) -> bool:
        """Take one of `limit` in-flight places for `member`; False when all are taken."""
        return bool(self._acquire(keys=[key], args=[member, limit, lease_s]))

    def release(self, key: str, member: str) -> None:
        self.redis.zrem(key, member)

    def in_flight(self, key: str) -> int:
        return int(self.redis.zcard(key))

    def wait_s(self, key: str, rate_per_s: float, burst: int = 1) -> float:
        """0 when one more may go now (and it is counted); else how long to wait."""
        return self.admit(key, rate_per_s, burst)[0]

    def admit(self, key: str, rate_per_s: float, burst: int = 1) -> tuple[float, float]:
        """As `wait_s`, with the Redis time (epoch seconds) the limiter decided at.

        Logging an admission at that very time makes the log agree with the limiter.
        """
        wait, at = self._rate(keys=[key], args=[rate_per_s, burst - 1])
        return float(wait), float(at)
