"""Rollout books in Redis: the plan, the state, what was published and each wave's outcomes.

Everything a controller needs to resume lives here, so a controller killed mid-rollout
picks up where it was: targets already published are never published again, and outcomes
are counted once whatever their order.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import redis

from broker_config import redis_keys
from broker_config.redis_keys import inflight_key, rollout_key
from contracts import OutcomeEvent, OutcomeStatus, Target, limits
from contracts.changes import utcnow
from contracts.events import ChangeEvent, RolloutState
from contracts.redaction import has_sensitive, redact, redact_text
from contracts.state import DesiredState
from producers.counters.latest import LatestWins, order_of
from producers.rollouts.planner import RolloutPlan, Wave

#: Sorted set of every rollout id, by creation time.
ROLLOUTS_KEY = redis_keys.ROLLOUTS
#: Set of rollouts a controller must keep driving.
ACTIVE_KEY = redis_keys.ACTIVE_ROLLOUTS
#: Statuses that count against a wave's error budget.
FAILURES = (OutcomeStatus.FAILED, OutcomeStatus.REJECTED, OutcomeStatus.NOT_READY)


@dataclass
class Rollout:
    """One rollout as loaded from Redis: what a controller drives."""

    change_id: str
    state: RolloutState
    reason: str
    wave: int
    event: ChangeEvent | None
    plan: RolloutPlan
    targets: dict[str, Target]
    next_wave_at: float | None = None
    trace: dict[str, str] | None = None
    #: The source-of-truth revision this rollout assigns, wave by wave (None: inline only).
    revision: int | None = None

    def __post_init__(self) -> None:
        self._wave_of = {t: w.index for w in self.plan.waves for t in w.targets}

    def region_of(self, target: str) -> str:
        return self.targets[target].region

    def wave_of(self, target: str) -> int:
        return self._wave_of[target]


class RolloutBook:
    """Reads and writes rollouts."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._latest = LatestWins(client)

    def exists(self, change_id: str) -> bool:
        return bool(self.redis.hexists(rollout_key(change_id), "state"))

    def create(
        self,
        event: ChangeEvent,
        plan: RolloutPlan,
        targets: list[Target],
        *,
        trace: dict[str, Any] | None = None,
        revision: int | None = None,
    ) -> bool:
        """Store a planned rollout; the `state` field, written last, is the commit point.

        Returns False when a rollout with this id exists already (a repeated event).
        """
        change_id = event.change_id
        if self.exists(change_id):
            return False
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(
            *(rollout_key(change_id, p) for p in ("targets", "published", "latest", "counts"))
        )
        pipe.hset(
            rollout_key(change_id, "targets"), mapping={t.id: t.model_dump_json() for t in targets}
        )
        pipe.hset(
            rollout_key(change_id),
            mapping={
                # Shown and kept for the record with sensitive content redacted; the real
                # resources are kept apart only while the rollout still has to deliver them.
                "event": _redacted_json(event),
                "resources": _delivered_resources(event, revision),
                "plan": _plan_json(plan),
                "wave": "0",
                "reason": "",
                "issued_by": event.issued_by,
                "trace": json.dumps(trace or {}),
                "revision": "" if revision is None else str(revision),
                "created_at": utcnow().isoformat(),
            },
        )
        pipe.zadd(ROLLOUTS_KEY, {change_id: utcnow().timestamp()})
        pipe.execute()
        created = self.redis.hsetnx(rollout_key(change_id), "state", RolloutState.PLANNED.value)
        return bool(created)

    def reject(self, change_id: str, reason: str, body: bytes = b"") -> None:
        """Record why an event was refused, under its id, so the emitter can see why.

        Only the reason, the body's sha256 and a short excerpt are kept, and only for
        `REJECTED_TTL_S`: a refused event costs Redis a bounded amount whatever its size.
        """
        if self.exists(change_id):
            return
        key = rollout_key(change_id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(
            key,
            mapping={
                "state": RolloutState.REJECTED.value,
                "reason": reason[:2000],
                "created_at": utcnow().isoformat(),
                "plan": "[]",
                "wave": "0",
                "event": "",
                "size": str(len(body)),
                "sha256": hashlib.sha256(body).hexdigest(),
                "excerpt": _excerpt(body),
            },
        )
        pipe.expire(key, limits.REJECTED_TTL_S)
        pipe.zadd(ROLLOUTS_KEY, {change_id: utcnow().timestamp()})
        pipe.execute()

    def set_state(self, change_id: str, state: RolloutState, reason: str = "") -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(
            rollout_key(change_id),
            mapping={"state": state.value, "reason": reason, "updated_at": utcnow().isoformat()},
        )
        if state in (RolloutState.RUNNING, RolloutState.PAUSED, RolloutState.PLANNED):
            pipe.sadd(ACTIVE_KEY, change_id)
        else:
            pipe.srem(ACTIVE_KEY, change_id)
            pipe.hdel(rollout_key(change_id), "resources")  # nothing more to deliver
        pipe.execute()

    def advance_wave(self, change_id: str, wave: int) -> None:
        self.redis.hset(rollout_key(change_id), mapping={"wave": str(wave), "next_wave_at": ""})

    def pause_until(self, change_id: str, at_s: float) -> None:
        self.redis.hset(rollout_key(change_id), "next_wave_at", f"{at_s:.3f}")

    def load(self, change_id: str) -> Rollout | None:
        meta = self.redis.hgetall(rollout_key(change_id))
        if not meta.get("state"):
            return None
        raw_targets = self.redis.hgetall(rollout_key(change_id, "targets"))
        event = None
        if meta.get("event") and meta["state"] != RolloutState.REJECTED.value:
            event = ChangeEvent.model_validate_json(meta["event"])
            if meta.get("resources"):
                real = DesiredState.model_validate_json(meta["resources"]).resources
                event = event.model_copy(update={"resources": real})
        return Rollout(
            change_id=change_id,
            state=RolloutState(meta["state"]),
            reason=meta.get("reason", ""),
            wave=int(meta.get("wave") or 0),
            event=event,
            plan=_plan_from(meta.get("plan") or "[]"),
            targets={k: Target.model_validate_json(v) for k, v in raw_targets.items()},
            next_wave_at=float(meta["next_wave_at"]) if meta.get("next_wave_at") else None,
            trace=json.loads(meta.get("trace") or "{}"),
            revision=int(meta["revision"]) if meta.get("revision") else None,
        )

    def meta(self, change_id: str) -> dict[str, str]:
        return dict(self.redis.hgetall(rollout_key(change_id)))

    def published(self, change_id: str) -> set[str]:
        return set(self.redis.smembers(rollout_key(change_id, "published")))

    def published_count(self, change_id: str) -> int:
        return int(self.redis.scard(rollout_key(change_id, "published")))

    def mark_published(self, change_id: str, target: str) -> None:
        self.redis.sadd(rollout_key(change_id, "published"), target)

    def record(self, rollout: Rollout, event: OutcomeEvent) -> bool:
        """Count one outcome in its wave. False for a duplicate, stale or foreign outcome."""
        if event.target not in rollout.targets:
            return False
        wave = rollout.wave_of(event.target)
        return self._latest.record(
            latest=rollout_key(rollout.change_id, "latest"),
            target=event.target,
            order=order_of(event.finished_at.timestamp()),
            status=event.status.value,
            outcome_id=event.outcome_id,
            counts=rollout_key(rollout.change_id, "counts"),
            prefix=f"{wave}:",
            leaving=inflight_key(rollout.change_id, rollout.region_of(event.target)),
        )

    def wave_counts(self, rollout: Rollout) -> list[dict[str, int]]:
        """Per wave, a count for every status word (pending = neither reported nor done)."""
        raw = self.redis.hgetall(rollout_key(rollout.change_id, "counts"))
        result = []
        for wave in rollout.plan.waves:
            counts = {status.value: 0 for status in OutcomeStatus}
            for status in OutcomeStatus:
                counts[status.value] = int(raw.get(f"{wave.index}:{status.value}", 0))
            counts[OutcomeStatus.PENDING.value] = len(wave.targets) - sum(counts.values())
            result.append(counts)
        return result

    def active(self) -> list[str]:
        return sorted(self.redis.smembers(ACTIVE_KEY))


def failures(counts: dict[str, int]) -> int:
    return sum(counts[s.value] for s in FAILURES)


def _plan_json(plan: RolloutPlan) -> str:
    return json.dumps(
        [{"targets": list(w.targets), "max_failures": w.max_failures} for w in plan.waves]
    )


def _plan_from(text: str) -> RolloutPlan:
    return RolloutPlan(
        tuple(
            Wave(i, tuple(w["targets"]), int(w["max_failures"]))
            for i, w in enumerate(json.loads(text))
        )
    )


def _redacted_json(event: ChangeEvent) -> str:
    """The event as the book keeps it: no sensitive path's content, a digest instead."""
    document = event.model_dump(mode="json")
    shown = redact(document)
    return event.model_dump_json() if shown is document else json.dumps(shown)


def _delivered_resources(event: ChangeEvent, revision: int | None) -> str:
    """The inline resources a rollout without a revision delivers wave by wave.

    Kept only when the redacted event cannot serve (a sensitive path) and no revision holds
    them (a revision's rendered states are what later waves deliver then).
    """
    if revision is not None or not has_sensitive(event.model_dump(mode="json")):
        return ""
    return DesiredState(resources=event.resources).model_dump_json()


def _excerpt(body: bytes) -> str:
    """A bounded start of a refused body, in which no sensitive content shows."""
    return redact_text(body)[: limits.EXCERPT_BYTES]
