"""Requests published and not yet answered, per rollout: what the driver already knows.

The driver notes each request it publishes and each outcome copy that answers one; a
rollout it loads (after a restart, say) starts from its published targets less those
with an outcome on record. A rollout the driver forgets (it ended) leaves with its
requests: this counts the requests of the rollouts being driven. `provision_in_flight`
shows the counts per region.
"""

from __future__ import annotations

from collections import Counter


class InFlight:
    """Per rollout, each unanswered request's target and its region."""

    def __init__(self) -> None:
        self._waiting: dict[str, dict[str, str]] = {}

    def load(self, change_id: str, waiting: dict[str, str]) -> None:
        """A rollout loaded from the record: these targets (→ region) await an answer."""
        self._waiting[change_id] = dict(waiting)

    def published(self, change_id: str, target: str, region: str) -> None:
        self._waiting.setdefault(change_id, {})[target] = region

    def answered(self, change_id: str, target: str) -> None:
        waiting = self._waiting.get(change_id)
        if waiting is not None:
            waiting.pop(target, None)

    def waiting(self, change_id: str) -> int:
        """The rollout's requests published and not yet answered."""
        return len(self._waiting.get(change_id, ()))

    def forget(self, change_id: str) -> None:
        self._waiting.pop(change_id, None)

    def per_region(self) -> Counter[str]:
        """Unanswered requests per region, over every rollout being driven."""
        counts: Counter[str] = Counter()
        for waiting in self._waiting.values():
            counts.update(waiting.values())
        return counts
