"""Every Redis key of both planes, written once: the persisted layout, as data.

Keys are persisted format: a changed string strands what is stored under the old one, so
`tests/broker/test_redis_keys.py` pins every one. Templates name their placeholders
(`{change_id}`, `{target}`) and are filled with `str.format`; the change id is the change
event's `event_id`. Only `contracts` and `broker_config` are importable by both planes,
hence here.
"""

from __future__ import annotations

PREFIX = "provision"

# -- changes and their outcomes (the ledger) -------------------------------------------------
#: zset: change id -> created at.
CHANGES = f"{PREFIX}:changes"


def change_key(change_id: str, part: str = "") -> str:
    """`provision:change:<id>[:targets|outcomes|latest|counts]`."""
    return f"{PREFIX}:change:{change_id}" + (f":{part}" if part else "")


# -- rollouts --------------------------------------------------------------------------------
#: zset: every rollout (change id -> created at).
ROLLOUTS = f"{PREFIX}:rollouts"
#: set: the change ids of rollouts still planned or running.
ACTIVE_ROLLOUTS = f"{PREFIX}:rollouts:active"


def rollout_key(change_id: str, part: str = "") -> str:
    """`provision:rollout:<id>[:targets|published|latest|counts|inflight:R|rate:R]`."""
    return f"{PREFIX}:rollout:{change_id}" + (f":{part}" if part else "")


def inflight_key(change_id: str, region: str) -> str:
    """zset of the targets of one region a rollout is waiting on."""
    return rollout_key(change_id, f"inflight:{region}")


def rate_key(change_id: str, region: str) -> str:
    """The pacing window of one region of a rollout."""
    return rollout_key(change_id, f"rate:{region}")


# -- per target, control plane ---------------------------------------------------------------
#: The request fence: the last sequence handed out for a target.
SEQUENCE = PREFIX + ":sequence:{target}"
#: hash: target -> the revision it is assigned.
ASSIGNED = f"{PREFIX}:assigned"
#: hash: an enrolled agent's credentials and facts.
AGENT = PREFIX + ":agent:{target}"
#: hash: target -> compliance record (JSON).
COMPLIANCE = f"{PREFIX}:compliance"
#: hash: target -> "<order> <state> <outcome id>" of its latest compliance observation.
COMPLIANCE_LATEST = f"{PREFIX}:compliance:latest"
#: The inventory (JSON).
INVENTORY = f"{PREFIX}:inventory"

# -- check-ins ---------------------------------------------------------------------------------
CHECKIN_RATE = f"{PREFIX}:checkins:rate"
ADMISSIONS = f"{PREFIX}:admissions"
CHECKINS_WAITING = f"{PREFIX}:checkins:waiting"
REFUSALS = f"{PREFIX}:refusals"
REFUSALS_COUNT = f"{PREFIX}:refusals:count"

# -- the source of truth's revisions ---------------------------------------------------------
#: Namespace of the revision store; tests pass their own to stay apart.
STATE = f"{PREFIX}:state"


def revisions_counter(namespace: str = STATE) -> str:
    """The latest revision number (0 or absent: none yet)."""
    return f"{namespace}:revisions"


def revision_key(number: int, namespace: str = STATE) -> str:
    """`provision:state:revision:<n>`."""
    return f"{namespace}:revision:{number}"


def rendered_key(number: int, namespace: str = STATE) -> str:
    """`provision:state:revision:<n>:rendered`."""
    return f"{revision_key(number, namespace)}:rendered"


# -- workers (data plane) --------------------------------------------------------------------
DELIVERIES = PREFIX + ":deliveries:{task_id}:{round}"
DONE = PREFIX + ":done:{change_id}:{target}"
LOCK = PREFIX + ":lock:{target}"
#: A target's highest applied sequence (a cache; the target's journal is the truth).
FENCE = PREFIX + ":fence:{target}"
