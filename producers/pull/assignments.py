"""Assigned revisions: which source-of-truth revision each target should be at, and why.

A rollout advances the assignment of its targets wave by wave; push delivers it at once,
pull at the agent's next check-in. A halted rollout leaves its later waves' targets on
their old assignment, for both deliveries alike.

Bootstrap: a target that has never been assigned anything gets the latest published
revision at its first check-in (`bootstrap`), recorded as its assignment under the change
id `bootstrap-<revision>`; from then on only rollouts move it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import redis

from broker_config import redis_keys

#: Hash of target id → {"revision": n, "change_id": rollout id}.
ASSIGNED_KEY = redis_keys.ASSIGNED


# KEYS[1]: the hash. ARGV: target, revision, value.
_ASSIGN = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then
  local revision = tonumber(cjson.decode(current)['revision'])
  if revision > tonumber(ARGV[2]) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
"""


@dataclass(frozen=True)
class Assignment:
    revision: int
    change_id: str


class Assignments:
    """Reads and advances assigned revisions."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._assign = client.register_script(_ASSIGN)

    def assign(self, target: str, revision: int, change_id: str) -> bool:
        """Assign `revision` unless the target already has a newer one (then False).

        Assignments only move forward: a slow rollout of an older revision never takes a
        target back behind a newer one. To roll back, publish the old content anew.
        """
        value = json.dumps({"revision": revision, "change_id": change_id})
        return bool(self._assign(keys=[ASSIGNED_KEY], args=[target, revision, value]))

    def bootstrap(self, target: str, revision: int) -> Assignment | None:
        """Assign `revision` to a target that has no assignment yet; its assignment after.

        HSETNX, so a rollout that assigned the target meanwhile wins.
        """
        value = json.dumps({"revision": revision, "change_id": bootstrap_id(revision)})
        self.redis.hsetnx(ASSIGNED_KEY, target, value)
        return self.get(target)

    def get(self, target: str) -> Assignment | None:
        raw = self.redis.hget(ASSIGNED_KEY, target)
        if not raw:
            return None
        data = json.loads(raw)
        return Assignment(int(data["revision"]), str(data["change_id"]))

    def all(self) -> dict[str, Assignment]:
        return {
            target: Assignment(int(d["revision"]), str(d["change_id"]))
            for target, d in (
                (t, json.loads(v)) for t, v in self.redis.hgetall(ASSIGNED_KEY).items()
            )
        }


def bootstrap_id(revision: int) -> str:
    """The change id under which first check-ins at `revision` report (`provision status`)."""
    return f"bootstrap-{revision}"
