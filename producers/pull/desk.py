"""The check-in desk: answers pull agents for the controller.

Every check-in goes through these gates, in this order, cheapest first:

1. form: `reply_to` must be RabbitMQ's direct reply-to (so the controller never publishes
   into a queue an agent names), and the body a CheckinRequest within the size and depth
   limits; a malformed check-in is refused (and dead-lettered by the controller);
2. admission: a GCRA rate limit on one global key (`--checkin-rate`, `--checkin-burst`),
   shared by every controller, before any key is looked up, so a flood of bogus
   check-ins costs one rate check each. Beyond it the agent is told to come back later,
   with jitter spread over the current backlog, instead of being queued without bound (as
   Puppet Server answers 503 with Retry-After). Every admission is logged with Redis's
   clock (`provision:admissions`), so the admitted rate can be proven afterwards;
3. identity: its proof must be a signature by the key `provision enroll` made for the
   target it claims (only the public key is in the system of record, so an emptied Redis
   forgets no agent), its `sent_at` within CHECKIN_WINDOW_S of our clock, and its nonce
   unused (nonces are kept in PostgreSQL until their window closes): a check-in read off
   the broker can be neither replayed nor altered (`producers.pull.enrollment`);
4. assignment: the target's assigned revision and the exact stored bytes of its
   rendered state, with the controller's signature made when it was rendered (the agent
   checks it) and a fresh per-target sequence (`counters.sequences`) that the
   agent's outcome carries back, so push and pull outcomes are ordered alike. A target
   never assigned anything is assigned the latest published revision that renders it
   (bootstrap); only when there is none is the answer "nothing assigned" (which still
   counts as a sign of life, `pending` in compliance).

A refused agent is told only "refused", whatever the cause, so an outsider cannot learn
which targets are enrolled; the reason is kept for operators in the system of record
(table `checkin_refusals`). What Redis holds here (the rate limiter, the admissions log,
the backlog of waiting agents) may be forgotten at any moment.
"""

from __future__ import annotations

import json
import logging
import random
import re
from datetime import UTC, datetime
from typing import Any

import redis
from pydantic import ValidationError

from broker_config import redis_keys
from contracts import ContractError, Target, limits
from contracts.checkins import CheckinReply, CheckinRequest
from producers.counters.pacing import Pacer
from producers.counters.sequences import next_sequences
from producers.metrics.registry import checkin
from producers.pull.assignments import Assignment, Assignments
from producers.pull.enrollment import Enrollment
from producers.records.compliance import Compliance
from producers.records.inventory import InventoryStore
from producers.store import refusals
from producers.store.database import Database
from producers.truth.errors import UnknownRevision, UnknownTarget
from producers.truth.revisions import RevisionStore

log = logging.getLogger("provision.checkins")

#: The GCRA state of the global check-in rate.
ADMISSION_RATE_KEY = redis_keys.CHECKIN_RATE
#: Sorted set of admissions (member `<target> <n>`), scored by Redis time; capped.
ADMISSIONS_KEY = redis_keys.ADMISSIONS
#: Sorted set of targets told to come back, scored by when: the backlog the jitter spreads.
WAITING_KEY = redis_keys.CHECKINS_WAITING
#: How many admissions are kept.
LOG_CAP = 10_000
#: The one word a refused agent is told.
REFUSED = "refused"
#: Why a check-in with a bearer token is refused, for the operator who reads refusals.
OLD_AGENT = "a bearer-token check-in (an agent older than check-in proofs: upgrade, re-enroll)"
#: The only `reply_to` the desk answers: direct reply-to (`amq.rabbitmq.reply-to.<token>`).
DIRECT_REPLY_TO = "amq.rabbitmq.reply-to"
#: The name RabbitMQ gives a direct reply-to consumer: the prefix, then two base64 segments
#: (node and key). Anything else is refused at once, never tried (a publish to a forged name
#: closes the publishing connection).
_DIRECT_NAME = re.compile(re.escape(DIRECT_REPLY_TO) + r"\.[A-Za-z0-9+/=_-]+\.[A-Za-z0-9+/=_-]+")
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

    def __init__(self, db: Database, client: redis.Redis, *, rate_per_s: float, burst: int) -> None:
        if rate_per_s <= 0:
            raise ValueError(f"rate_per_s must be positive, not {rate_per_s}")
        self.db = db
        self.redis = client
        self.rate_per_s = rate_per_s
        self.burst = max(1, burst)
        self.pacer = Pacer(client)
        self.enrollment = Enrollment(db)
        self.assignments = Assignments(db)
        self.revisions = RevisionStore(db)
        self.inventory = InventoryStore(db)
        self.compliance = Compliance(db)
        self._admitted = client.register_script(_ADMITTED)
        self._waiting = client.register_script(_WAITING)
        self._counter = 0

    def read(self, body: bytes, reply_to: str | None) -> CheckinRequest:
        """The check-in in `body`, or Malformed with the reason (nothing else is touched)."""
        if not is_direct_reply_to(reply_to):
            raise Malformed(f"reply_to {str(reply_to)[:100]!r} is not direct reply-to", None)
        try:
            limits.check_json("check-in", body, limits.CHECKIN_BYTES, "CHECKIN_BYTES")
        except limits.LimitExceeded as exc:
            raise Malformed(str(exc), None) from exc
        try:
            return CheckinRequest.model_validate_json(body)
        except ValidationError as exc:
            reason = str(ContractError.from_validation("check-in", exc))
            if b'"token"' in body:  # the token itself is never logged nor kept
                reason = f"{OLD_AGENT}: {reason}"
            raise Malformed(reason, _claimed(body)) from exc

    def answer(self, body: bytes, reply_to: str | None = DIRECT_REPLY_TO) -> CheckinReply:
        """The reply to one check-in body. Raises only when Redis or PostgreSQL is lost."""
        try:
            request = self.read(body, reply_to)
        except Malformed as exc:
            return self.refuse(exc.target, exc.reason, result="refused_malformed")
        return self.answer_request(request)

    def answer_request(self, request: CheckinRequest) -> CheckinReply:
        """Admission first, then identity, then the assignment."""
        wait_s, at = self.pacer.admit(ADMISSION_RATE_KEY, self.rate_per_s, self.burst)
        if wait_s > 0:
            checkin("deferred")
            return CheckinReply(admitted=False, retry_after_s=self._retry_after(request, wait_s))
        problem = self.enrollment.verify(request)
        if problem is not None:
            return self.refuse(request.target, problem, result="refused_identity")
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
        reply = self._assigned(request)
        if reply.admitted:
            checkin("admitted")
        return reply

    def refuse(
        self, target: str | None, reason: str, *, result: str = "refused_error"
    ) -> CheckinReply:
        """Record a refusal (who claimed what, why, when) for operators; tell the agent no more
        than "refused". `result` is the check-in's word in provision_checkins_total."""
        checkin(result)
        log.warning("refused a check-in for %r: %s", target, reason[:300])
        with self.db.connection() as conn:
            refusals.refuse(conn, target, reason[:500])
        return CheckinReply(admitted=False, refused=REFUSED)

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
            reason = f"assigned revision {assignment.revision}: {exc}"
            return self.refuse(request.target, reason, result="refused_assignment")
        sequence = next_sequences(self.redis, [request.target])[request.target]
        # Handed on as stored, never signed afresh: the agent checks the state against the
        # signature made when it was rendered, so bytes edited in the database are refused.
        signature = self.revisions.signature(assignment.revision, request.target)
        return CheckinReply(
            admitted=True,
            revision=assignment.revision,
            change_id=assignment.change_id,
            state=state.decode(),
            state_signature=signature,
            sequence=sequence,
            target=self._target(request.target, assignment.revision),
        )

    def _bootstrap(self, target_id: str) -> Assignment | None:
        """A first check-in: the latest revision, if it renders this target, is assigned."""
        latest = self.revisions.latest_number()
        if not latest:
            return None
        try:
            self.revisions.rendered(latest, target_id)
        except (UnknownRevision, UnknownTarget):
            return None
        return self.assignments.bootstrap(target_id, latest)

    def _target(self, target_id: str, revision: int | None) -> Target | None:
        """The target as the inventory has it, else as its assigned revision has it."""
        found = self.inventory.get(target_id)
        if found is not None or revision is None:
            return found
        return self.revisions.bundle(revision).target(target_id)  # a cached parse


class Malformed(Exception):
    """A check-in refused for its form: why, and the target it claims (if readable)."""

    def __init__(self, reason: str, target: str | None) -> None:
        self.reason = reason
        self.target = target
        super().__init__(reason)


def is_direct_reply_to(reply_to: str | None) -> bool:
    """True for `amq.rabbitmq.reply-to` and the per-channel names RabbitMQ gives it."""
    if not reply_to or len(reply_to) > 255:
        return False
    return reply_to == DIRECT_REPLY_TO or _DIRECT_NAME.fullmatch(reply_to) is not None


def _claimed(body: bytes) -> str | None:
    """The target a malformed check-in claims to be, if that much can be read.

    Only called on a body already within the size and depth limits.
    """
    try:
        data: Any = json.loads(body)
    except (ValueError, RecursionError):
        return None
    target = data.get("target") if isinstance(data, dict) else None
    return str(target)[:100] if target is not None else None
