"""Every Redis key of both planes, written once: the layout of what Redis may forget.

Redis holds only what can be lost without losing a record (the records are in PostgreSQL,
`producers/store`): pacing leases and windows, the request fence's cache (each target's
journal is its backing), the check-in limiter and backlog, the delivery guard's marks and
the workers' locks. A changed string still strands what is stored under the old one until
it expires, so `tests/broker_config/test_redis_keys.py` pins every one. Templates name their
placeholders (`{change_id}`, `{target}`) and are filled with `str.format`. Only `contracts`
and `broker_config` are importable by both planes, hence here.
"""

from __future__ import annotations

PREFIX = "provision"


# -- rollout pacing ----------------------------------------------------------------------------
def rollout_key(change_id: str, part: str) -> str:
    """`provision:rollout:<id>:<part>`: a rollout's pacing state (never its record)."""
    return f"{PREFIX}:rollout:{change_id}:{part}"


def inflight_key(change_id: str, region: str) -> str:
    """zset of the targets of one region a rollout is waiting on (leases that expire)."""
    return rollout_key(change_id, f"inflight:{region}")


def rate_key(change_id: str, region: str) -> str:
    """The pacing window of one region of a rollout."""
    return rollout_key(change_id, f"rate:{region}")


# -- per target, control plane -----------------------------------------------------------------
#: The request fence: the last sequence handed out for a target. A hybrid clock, so losing
#: it only means the next one is taken from the wall clock.
SEQUENCE = PREFIX + ":sequence:{target}"

# -- check-ins ---------------------------------------------------------------------------------
CHECKIN_RATE = f"{PREFIX}:checkins:rate"
ADMISSIONS = f"{PREFIX}:admissions"
CHECKINS_WAITING = f"{PREFIX}:checkins:waiting"

# -- workers (data plane) ----------------------------------------------------------------------
DELIVERIES = PREFIX + ":deliveries:{task_id}:{round}"
DONE = PREFIX + ":done:{change_id}:{target}"
LOCK = PREFIX + ":lock:{target}"
#: A target's highest applied sequence (a cache; the target's journal is the truth).
FENCE = PREFIX + ":fence:{target}"
