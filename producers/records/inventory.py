"""The inventory in the system of record: every target the control plane may select, by id."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from contracts import Selector, Target
from contracts.inventory import Inventory
from producers.store import inventory as rows
from producers.store.database import Database
from producers.truth.errors import UnknownRevision
from producers.truth.revisions import RevisionStore


@dataclass(frozen=True)
class LoadReport:
    added: int
    updated: int
    removed: int
    total: int


class InventoryStore:
    """Reads and replaces the inventory kept in PostgreSQL (table `targets`)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def load(
        self,
        inventory: Inventory,
        *,
        then: Callable[[psycopg.Connection, LoadReport], object] | None = None,
    ) -> LoadReport:
        """Replace the inventory with `inventory`, in one transaction: the file is the truth.

        `then(conn, report)` runs in that transaction (an operator's audit record): the
        load and what `then` writes commit together, or neither does."""
        with self.db.connection() as conn, conn.transaction():
            counts = rows.replace(conn, inventory.targets)
            report = LoadReport(counts.added, counts.updated, counts.removed, counts.total)
            if then is not None:
                then(conn, report)
        return report

    def targets(self, selector: Selector | None = None) -> list[Target]:
        """Every target the selector picks, in id order."""
        with self.db.connection() as conn:
            targets = rows.all_targets(conn)
        return [t for t in targets if selector is None or selector.matches(t)]

    def get(self, target_id: str) -> Target | None:
        """One target, or None when the inventory has no such id."""
        with self.db.connection() as conn:
            return rows.get(conn, target_id)


def fleet(db: Database) -> list[Target]:
    """The inventory's targets, else the latest revision's (a source-of-truth-only setup):
    the fleet `provision compliance` and the dashboard report on."""
    targets = InventoryStore(db).targets()
    if targets:
        return targets
    store = RevisionStore(db)
    try:
        return list(store.bundle(store.resolve("latest")).inventory.targets)
    except UnknownRevision:
        return []
