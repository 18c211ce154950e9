"""Assigned revisions: which source-of-truth revision each target should be at, and why.

A rollout advances the assignment of its targets wave by wave; push delivers it at once,
pull at the agent's next check-in. A halted rollout leaves its later waves' targets on
their old assignment, for both deliveries alike.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import redis

#: Hash of target id → {"revision": n, "change_id": rollout id}.
ASSIGNED_KEY = "provision:assigned"


@dataclass(frozen=True)
class Assignment:
    revision: int
    change_id: str


class Assignments:
    """Reads and advances assigned revisions."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def assign(self, target: str, revision: int, change_id: str) -> None:
        self.redis.hset(
            ASSIGNED_KEY, target, json.dumps({"revision": revision, "change_id": change_id})
        )

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
