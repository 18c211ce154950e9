"""The inventory in Redis: every target the control plane may select, by id."""

from __future__ import annotations

from dataclasses import dataclass

import redis

from broker_config import redis_keys
from contracts import Selector, Target
from contracts.inventory import Inventory

#: Hash of target id → target JSON.
INVENTORY_KEY = redis_keys.INVENTORY


@dataclass(frozen=True)
class LoadReport:
    added: int
    updated: int
    removed: int
    total: int


class InventoryStore:
    """Reads and replaces the inventory kept in Redis."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def load(self, inventory: Inventory) -> LoadReport:
        """Replace the inventory with `inventory`, atomically: the file is the truth."""
        before = self.redis.hgetall(INVENTORY_KEY)
        after: dict[str | bytes, bytes | float | int | str] = {
            t.id: t.model_dump_json() for t in inventory.targets
        }
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(INVENTORY_KEY)
        if after:
            pipe.hset(INVENTORY_KEY, mapping=after)
        pipe.execute()
        return LoadReport(
            added=len(after.keys() - before.keys()),
            updated=sum(1 for k in after.keys() & before.keys() if after[k] != before[k]),
            removed=len(before.keys() - after.keys()),
            total=len(after),
        )

    def targets(self, selector: Selector | None = None) -> list[Target]:
        """Every target the selector picks, in id order."""
        raw = self.redis.hgetall(INVENTORY_KEY)
        targets = [Target.model_validate_json(v) for _, v in sorted(raw.items())]
        return [t for t in targets if selector is None or selector.matches(t)]
