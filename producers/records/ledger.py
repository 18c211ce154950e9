"""The ledger: the Redis book of changes and their outcomes.

Each change keeps the targets it was published to, the latest outcome per target and the
count per status. Recording is the one "latest wins" script (`producers.counters.latest`),
so it is atomic and idempotent: the same event twice, or an older event after a newer one,
changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import redis

from broker_config import redis_keys
from broker_config.redis_keys import change_key
from contracts import OutcomeEvent, OutcomeStatus
from producers.counters.latest import LatestWins, order_of
from producers.errors import UnknownChange

#: Sorted set of change ids, scored by the time they were opened.
CHANGES_KEY = redis_keys.CHANGES


@dataclass
class ChangeStatus:
    """What the ledger knows of one change."""

    change_id: str
    meta: dict[str, str]
    targets: list[str]
    outcomes: dict[str, OutcomeEvent] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """A count for every status word; targets without an outcome count as pending."""
        counts = {status.value: 0 for status in OutcomeStatus}
        for target in self.targets:
            outcome = self.outcomes.get(target)
            counts[outcome.status.value if outcome else OutcomeStatus.PENDING.value] += 1
        return counts

    @property
    def done(self) -> bool:
        """True once every target has an outcome."""
        return all(target in self.outcomes for target in self.targets)

    def as_json(self) -> dict[str, Any]:
        """The `provision status --json` object."""
        rows: list[dict[str, Any]] = []
        for target in self.targets:
            outcome = self.outcomes.get(target)
            if outcome is None:
                rows.append(
                    {
                        "target": target,
                        "status": OutcomeStatus.PENDING.value,
                        "changes": [],
                        "error": None,
                        "attempts": 0,
                        "trace_id": None,
                    }
                )
                continue
            rows.append(
                {
                    "target": target,
                    "status": outcome.status.value,
                    "changes": [
                        c.model_dump(mode="json", exclude_none=True) for c in outcome.changes
                    ],
                    "error": outcome.error.model_dump(mode="json") if outcome.error else None,
                    "attempts": outcome.attempts,
                    "trace_id": outcome.trace_id,
                    "worker": outcome.worker,
                    "finished_at": outcome.finished_at.isoformat(),
                }
            )
        return {"change_id": self.change_id, **self.meta, "targets": rows, "counts": self.counts()}


class Ledger:
    """Reads and writes the book of changes in one Redis database."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._latest = LatestWins(client)

    def open_change(
        self,
        change_id: str,
        targets: list[str],
        *,
        issued_by: str,
        issued_at: datetime,
        dry_run: bool = False,
    ) -> None:
        """Note a change and its targets before its first request is published."""
        pipe = self.redis.pipeline()
        pipe.hset(
            change_key(change_id),
            mapping={
                "issued_by": issued_by,
                "issued_at": issued_at.isoformat(),
                "dry_run": "1" if dry_run else "0",
                "target_count": str(len(targets)),
            },
        )
        pipe.delete(change_key(change_id, "targets"))
        if targets:
            pipe.rpush(change_key(change_id, "targets"), *targets)
        pipe.zadd(CHANGES_KEY, {change_id: issued_at.timestamp()})
        pipe.execute()

    def record(self, event: OutcomeEvent) -> bool:
        """Record one outcome. Returns False when it was a duplicate or older than the latest."""
        return self._latest.record(
            latest=change_key(event.change_id, "latest"),
            target=event.target,
            order=order_of(event.finished_at.timestamp()),
            status=event.status.value,
            outcome_id=event.outcome_id,
            counts=change_key(event.change_id, "counts"),
            payload_key=change_key(event.change_id, "outcomes"),
            payload=event.model_dump_json(),
        )

    def status(self, change_id: str) -> ChangeStatus:
        """Everything known of one change. Raises UnknownChange for an id never opened."""
        pipe = self.redis.pipeline()
        pipe.hgetall(change_key(change_id))
        pipe.lrange(change_key(change_id, "targets"), 0, -1)
        pipe.hgetall(change_key(change_id, "outcomes"))
        meta, targets, raw = pipe.execute()
        if not meta and not raw:
            raise UnknownChange(f"no change {change_id!r} in the ledger")
        outcomes = {t: OutcomeEvent.model_validate(json.loads(v)) for t, v in raw.items()}
        known = set(targets)
        targets = list(targets) + sorted(t for t in outcomes if t not in known)
        return ChangeStatus(change_id, dict(meta), targets, outcomes)

    def counts(self, change_id: str) -> dict[str, int]:
        """Counts per status, cheaply: from the counters, with pending derived."""
        pipe = self.redis.pipeline()
        pipe.hget(change_key(change_id), "target_count")
        pipe.hgetall(change_key(change_id, "counts"))
        total, raw = pipe.execute()
        counts = {status.value: 0 for status in OutcomeStatus}
        for status, value in raw.items():
            counts[status] = int(value)
        counts[OutcomeStatus.PENDING.value] = max(
            0, int(total or 0) - sum(v for k, v in counts.items() if k != "pending")
        )
        return counts
