"""Per-target sequences: each change request numbers its place in its target's history.

A sequence is a hybrid clock: the wall clock in microseconds, pushed past the last value
handed out for that target. Redis makes it strictly increasing per target; the clock keeps
it increasing across a Redis restart that forgot the last value (as long as the clock does
not step back by more than the time since that value).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import redis

from broker_config import redis_keys

#: The last sequence handed out for a target.
SEQUENCE_KEY = redis_keys.SEQUENCE

# KEYS[1]: the target's key. ARGV[1]: now in microseconds.
_NEXT = """
local now = tonumber(ARGV[1])
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
if last >= now then now = last + 1 end
redis.call('SET', KEYS[1], string.format('%d', now))
return now
"""


def next_sequences(client: redis.Redis, targets: Iterable[str]) -> dict[str, int]:
    """One new sequence per target id, each higher than any handed out before for it."""
    script = client.register_script(_NEXT)
    ids = list(dict.fromkeys(targets))
    pipe = client.pipeline(transaction=False)
    now_us = time.time_ns() // 1000
    for target in ids:
        script(keys=[SEQUENCE_KEY.format(target=target)], args=[now_us], client=pipe)
    return {target: int(value) for target, value in zip(ids, pipe.execute(), strict=True)}
