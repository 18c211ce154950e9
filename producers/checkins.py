"""The check-in desk: answers pull agents for the controller.

Every check-in goes through three gates, in this order:

1. identity: the body must be a CheckinRequest, and its token must be the one
   `provision enroll` issued for the target it claims. Anything else is refused, and
   every refusal is recorded (`provision:refusals`), so a probing agent leaves a trail;
2. admission: a GCRA rate limit on one global key (`--checkin-rate`, `--checkin-burst`),
   shared by every controller. Beyond it the agent is told to come back later, with
   jitter spread over the current backlog, instead of being queued without bound (as
   Puppet Server answers 503 with Retry-After). Every admission is logged with Redis's
   clock (`provision:admissions`), so the admitted rate can be proven afterwards;
3. assignment: the target's assigned revision and the exact stored bytes of its
   rendered state. A target never assigned anything is assigned the latest published
   revision that renders it (bootstrap); only when there is none is the answer "nothing
   assigned" (which still counts as a sign of life, `pending` in compliance).
"""

from __future__ import annotations

import json
import logging
import random
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

import redis
from pydantic import ValidationError

from contracts import ContractError, Target
from contracts.checkins import CheckinReply, CheckinRequest
from producers.assignments import Assignment, Assignments
from producers.compliance import Compliance
from producers.enrollment import Enrollment
from producers.inventory import INVENTORY_KEY
from producers.pacing import Pacer
from producers.truth.errors import UnknownRevision, UnknownTarget
from producers.truth.revisions import RevisionStore

log = logging.getLogger("provision.checkins")

#: The GCRA state of the global check-in rate.
ADMISSION_RATE_KEY = "provision:checkins:rate"
#: Sorted set of admissions (member `<target> <n>`), scored by Redis time; capped.
ADMISSIONS_KEY = "provision:admissions"
#: Sorted set of targets told to come back, scored by when: the backlog the jitter spreads.
WAITING_KEY = "provision:checkins:waiting"
#: List of refusals, newest first, JSON {at, target, reason}; capped.
REFUSALS_KEY = "provision:refusals"
#: How many admissions and refusals are kept.
LOG_CAP = 10_000
#: A waiting agent not heard of for this long no longer counts in the backlog.
WAITING_TTL_S = 120.0
#: The longest delay an agent is ever told to wait (Puppet's max-retry-delay is 1800 s).
MAX_RETRY_AFTER_S = 300.0

# KEYS: admissions, waiting. ARGV: member, target, cap, time. Logs the admission at the
# Redis time the limiter admitted it, and takes the target off the backlog.
_ADMITTED = """
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -tonumber(ARGV[3]) - 1)
redis.call('ZREM', KEYS[2], ARGV[2])
return ARGV[4]
"""

# KEYS: waiting. ARGV: target, ttl. Puts the target on the backlog; returns its size.
_WAITING = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1e6
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t - tonumber(ARGV[2]))
redis.call('ZADD', KEYS[1], t, ARGV[1])
return redis.call('ZCARD', KEYS[1])
"""


class CheckinDesk:
    """Turns a check-in request into a reply: refused, come back later, or admitted."""

    def __init__(self, client: redis.Redis, *, rate_per_s: float, burst: int) -> None:
        if rate_per_s <= 0:
            raise ValueError(f"rate_per_s must be positive, not {rate_per_s}")
        self.redis = client
        self.rate_per_s = rate_per_s
        self.burst = max(1, burst)
        self.pacer = Pacer(client)
        self.enrollment = Enrollment(client)
        self.assignments = Assignments(client)
        self.revisions = RevisionStore(client)
        self.compliance = Compliance(client)
        self._admitted = client.register_script(_ADMITTED)
        self._waiting = client.register_script(_WAITING)
        self._counter = 0
        self._bundle_targets: OrderedDict[int, dict[str, Target]] = OrderedDict()

    def answer(self, body: bytes) -> CheckinReply:
        """The reply to one check-in body. Raises only for Redis errors (the caller retries)."""
        try:
            request = CheckinRequest.model_validate_json(body)
        except ValidationError as exc:
            reason = str(ContractError.from_validation("check-in", exc))
            return self.refuse(_claimed(body), reason)
        problem = self.enrollment.verify(request.target, request.token)
        if problem is not None:
            return self.refuse(request.target, problem)
        wait_s, at = self.pacer.admit(ADMISSION_RATE_KEY, self.rate_per_s, self.burst)
        if wait_s > 0:
            return CheckinReply(admitted=False, retry_after_s=self._retry_after(request, wait_s))
        self._counter += 1
        self._admitted(
            keys=[ADMISSIONS_KEY, WAITING_KEY],
            args=[
                f"{request.target} {self._counter} {random.random():.6f}",
                request.target,
                LOG_CAP,
                f"{at:.6f}",
            ],
        )
        return self._assigned(request)

    def refuse(self, target: str | None, reason: str) -> CheckinReply:
        """Record a refusal (who claimed what, why, when) and say why to the agent."""
        log.warning("refused a check-in for %r: %s", target, reason)
        entry = {"at": datetime.now(UTC).isoformat(), "target": target, "reason": reason}
        pipe = self.redis.pipeline(transaction=False)
        pipe.lpush(REFUSALS_KEY, json.dumps(entry))
        pipe.ltrim(REFUSALS_KEY, 0, LOG_CAP - 1)
        pipe.execute()
        return CheckinReply(admitted=False, refused=reason)

    def _retry_after(self, request: CheckinRequest, wait_s: float) -> float:
        """The GCRA wait plus jitter over the time the current backlog takes to drain.

        Spreading over the backlog (not a fixed window) keeps the retries of a thundering
        herd near the admission rate instead of hammering the desk in lockstep.
        """
        backlog = int(self._waiting(keys=[WAITING_KEY], args=[request.target, WAITING_TTL_S]))
        spread_s = max(1.0, backlog / self.rate_per_s)
        return round(min(MAX_RETRY_AFTER_S, wait_s + random.uniform(0, spread_s)), 3)

    def _assigned(self, request: CheckinRequest) -> CheckinReply:
        assignment = self.assignments.get(request.target) or self._bootstrap(request.target)
        if assignment is None:
            self.compliance.seen(request.target, datetime.now(UTC), request.interval_s)
            return CheckinReply(admitted=True, target=self._target(request.target, None))
        try:
            state = self.revisions.rendered(assignment.revision, request.target)
        except (UnknownRevision, UnknownTarget) as exc:
            return self.refuse(request.target, f"assigned revision {assignment.revision}: {exc}")
        return CheckinReply(
            admitted=True,
            revision=assignment.revision,
            change_id=assignment.change_id,
            state=state.decode(),
            target=self._target(request.target, assignment.revision),
        )

    def _bootstrap(self, target_id: str) -> Assignment | None:
        """A first check-in: the latest revision, if it renders this target, is assigned."""
        latest = self.revisions.latest_sequence()
        if not latest:
            return None
        try:
            self.revisions.rendered(latest, target_id)
        except (UnknownRevision, UnknownTarget):
            return None
        return self.assignments.bootstrap(target_id, latest)

    def _target(self, target_id: str, revision: int | None) -> Target | None:
        """The target as the inventory has it, else as its assigned revision has it."""
        raw = self.redis.hget(INVENTORY_KEY, target_id)
        if raw:
            return Target.model_validate_json(raw)
        if revision is None:
            return None
        if revision not in self._bundle_targets:
            bundle = self.revisions.bundle(revision)  # revisions never change: cache a few
            self._bundle_targets[revision] = {t.id: t for t in bundle.inventory.targets}
            while len(self._bundle_targets) > 4:
                self._bundle_targets.popitem(last=False)
        return self._bundle_targets[revision].get(target_id)


def _claimed(body: bytes) -> str | None:
    """The target a malformed check-in claims to be, if that much can be read."""
    try:
        data: Any = json.loads(body)
    except ValueError:
        return None
    target = data.get("target") if isinstance(data, dict) else None
    return str(target)[:100] if target is not None else None
