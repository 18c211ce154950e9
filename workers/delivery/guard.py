"""The exactly-once guard in Redis: redelivery counts, idempotency records, locks, fences.

RabbitMQ delivers at least once; this turns it into an effect applied once:

- a delivery counter per (task id, round), checked at task start, bounds redeliveries of
  a message that keeps killing its worker (classic queues on 3.10 have no delivery limit);
- an idempotency record per (change, target) holds the final outcome: a redelivered
  request that already completed re-publishes it and applies nothing;
- a lock per target, with a TTL refreshed while the engine runs (`keeper`), so two requests
  never converge one target at the same time, and a crashed worker's lock lapses by itself;
- a fence per target, the highest sequence applied, so an older request is superseded.

Redis keeps nothing on disk here, so the records and the fence are also written on the
target itself (`workers.engine.journal`); Redis is the fast path, the target the source of truth.
Every call retries briefly (tenacity, explicit stop) and then raises ServiceUnavailable.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import redis
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from broker_config import Endpoints, redis_keys
from contracts import OutcomeEvent, ProvisioningError
from workers.delivery.keeper import Keeper

log = logging.getLogger("provision.guard")

#: Starts of one message in one round (retry number, replay id); bounded by MAX_DELIVERIES.
DELIVERIES_KEY = redis_keys.DELIVERIES
#: The final outcome of one (change, target), as OutcomeEvent JSON.
DONE_KEY = redis_keys.DONE
#: Who converges a target right now: a random token, with a TTL.
LOCK_KEY = redis_keys.LOCK
#: The highest sequence a target has applied.
FENCE_KEY = redis_keys.FENCE

#: Starts of one message (same round) before it is dead-lettered as poison. Above the
#: worst number of crashes a healthy message meets (a kill or a broker restart each).
MAX_DELIVERIES = 5
#: How long records live: beyond any request's deadline, so a redelivery finds them.
RECORD_TTL_S = 7 * 24 * 3600
#: A lock lapses this long after its holder stopped refreshing it (killed, say).
LOCK_TTL_S = 10.0

T = TypeVar("T")


class ServiceUnavailable(ProvisioningError):
    """Redis did not answer within the short in-attempt retry; a later attempt may work."""

    transient = True


class LockBusy(ProvisioningError):
    """Another request is converging this target right now."""

    transient = True


_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_REFRESH = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
# KEYS: done, fence, lock. ARGV: outcome json, ttl, sequence ('' when not fenced), lock token
# ('' when this process holds no lock on the target). Record, fence and release: one trip.
_RECORD = """
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
if ARGV[3] ~= '' then
  local seq = tonumber(ARGV[3])
  local cur = tonumber(redis.call('GET', KEYS[2]) or '-1')
  if seq > cur then redis.call('SET', KEYS[2], ARGV[3]) end
end
if ARGV[4] ~= '' and redis.call('GET', KEYS[3]) == ARGV[4] then redis.call('DEL', KEYS[3]) end
return 1
"""

# KEYS: deliveries, done, fence, lock. ARGV: ttl, lock token ('' not to lock), lock ttl (ms),
# most starts. Count the start, read the record and the fence, and take the target's lock
# when the request will converge (no record, not poison): one round trip to start a task.
_BEGIN = """
local starts = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
local done = redis.call('GET', KEYS[2])
local locked = 0
if ARGV[2] ~= '' and not done and starts <= tonumber(ARGV[4]) then
  if redis.call('SET', KEYS[4], ARGV[2], 'NX', 'PX', ARGV[3]) then locked = 1 end
end
return {starts, done, redis.call('GET', KEYS[3]), locked}
"""

_REDIS_ERRORS = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError, OSError)


#: One retry policy for every Redis call: a restart's worth (about 15 s), then give up.
_RETRYER = Retrying(
    retry=retry_if_exception_type(_REDIS_ERRORS),
    stop=stop_after_delay(15) | stop_after_attempt(12),
    wait=wait_exponential_jitter(multiplier=0.1, max=2.0),
    reraise=True,
)


def _reliably(call: Callable[[], T]) -> T:
    """Run one Redis call under the retry policy; ServiceUnavailable when it gives up.

    The first try is a plain call: tenacity's bookkeeping cost as much as the round trip
    itself, and almost every call succeeds at once."""
    try:
        return call()
    except _REDIS_ERRORS:
        pass
    try:
        return _RETRYER(call)
    except _REDIS_ERRORS as exc:
        raise ServiceUnavailable(f"Redis unreachable: {exc}") from exc


@dataclass(frozen=True)
class Begun:
    """What a task learns as it starts: its start count, a recorded outcome, the fence, and
    the target's lock token when `begin` took the lock for it (None: not taken, or busy)."""

    starts: int
    recorded: OutcomeEvent | None
    fence: int | None
    token: str | None = None


class Guard:
    """The Redis half of the guard, for one worker process.

    A request that converges costs two round trips: `begin` (count, read, lock) and
    `record` (record, fence, release); the lock's refreshes run on the keeper's thread.

    Args:
        client: A Redis client (decode_responses=True).
    """

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._release = client.register_script(_RELEASE)
        self._refresh = client.register_script(_REFRESH)
        self._record = client.register_script(_RECORD)
        self._begin = client.register_script(_BEGIN)
        self._keeper = Keeper(self._refresh, LOCK_TTL_S)
        #: target → token of the lock this process holds on it (released by `record`).
        self._tokens: dict[str, str] = {}

    def begin(
        self, task_id: str, round_id: str, change_id: str, target: str, *, lock: bool = False
    ) -> Begun:
        """Count this start and read the record and the fence, in one round trip; with
        `lock`, also take the target's lock when there is no record and the start is not
        poison (`Begun.token`; a busy lock leaves it None)."""
        keys = [
            DELIVERIES_KEY.format(task_id=task_id, round=round_id),
            DONE_KEY.format(change_id=change_id, target=target),
            FENCE_KEY.format(target=target),
            LOCK_KEY.format(target=target),
        ]
        token = _token() if lock else ""
        args = [RECORD_TTL_S, token, int(LOCK_TTL_S * 1000), MAX_DELIVERIES]
        starts, done, fence, locked = _reliably(lambda: self._begin(keys=keys, args=args))
        return Begun(
            starts=int(starts),
            recorded=OutcomeEvent.model_validate_json(done) if done else None,
            fence=int(fence) if fence is not None else None,
            token=token if int(locked) else None,
        )

    def record(self, event: OutcomeEvent, sequence: int | None) -> None:
        """Keep the final outcome; raise the target's fence to `sequence` if it is higher;
        release this process's lock on the target in the same trip (the work is done)."""
        token = self._tokens.pop(event.target, "")
        keys = [
            DONE_KEY.format(change_id=event.change_id, target=event.target),
            FENCE_KEY.format(target=event.target),
            LOCK_KEY.format(target=event.target),
        ]
        args = [event.model_dump_json(), RECORD_TTL_S, "" if sequence is None else sequence]
        try:
            _reliably(lambda: self._record(keys=keys, args=[*args, token]))
        except ServiceUnavailable:
            if token:
                self._tokens[event.target] = token  # still held: `lock` releases it
            raise
        if token:
            self._keeper.drop(LOCK_KEY.format(target=event.target))

    @contextmanager
    def lock(self, target: str, token: str | None = None) -> Iterator[None]:
        """Hold the target's lock while the block runs; the process's keeper keeps it alive.

        `token` is a lock `begin` already took; without it the lock is taken here. `record`
        releases it early (one trip for both); otherwise it is released as the block ends.

        Raises:
            LockBusy: another request holds it.
            ServiceUnavailable: Redis did not answer.
        """
        key = LOCK_KEY.format(target=target)
        if token is None:
            token = _token()
            ttl_ms = int(LOCK_TTL_S * 1000)
            if not _reliably(lambda: self.redis.set(key, token, nx=True, px=ttl_ms)):
                raise LockBusy(f"target {target} is being converged by another request")
        self._tokens[target] = token
        self._keeper.hold(key, token)
        try:
            yield
        finally:
            if self._tokens.pop(target, None) is not None:  # `record` did not release it
                self._keeper.drop(key)
                try:
                    _reliably(lambda: self._release(keys=[key], args=[token]))
                except ServiceUnavailable:
                    log.warning("lock of %s not released; it lapses in %ss", target, LOCK_TTL_S)


def _token() -> str:
    """A lock token: whose (pid) and unique, so only its holder releases it."""
    return f"{os.getpid()}:{uuid.uuid4().hex}"


_guards: dict[int, Guard] = {}


def guard() -> Guard:
    """This process's guard (one per process: prefork children must not share sockets)."""
    pid = os.getpid()
    if pid not in _guards:
        client: Any = redis.Redis.from_url(
            Endpoints.from_env().redis_url,
            decode_responses=True,
            socket_connect_timeout=3,
            socket_timeout=6,
            health_check_interval=10,
        )
        _guards.clear()
        _guards[pid] = Guard(client)
    return _guards[pid]
