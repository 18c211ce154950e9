"""Assigned revisions: which source-of-truth revision each target should be at, and why.

A rollout advances the assignment of its targets wave by wave; push delivers it at once,
pull at the agent's next check-in. A halted rollout leaves its later waves' targets on
their old assignment, for both deliveries alike. Assignments live in the system of record
(table `assigned_revisions`), so emptying Redis takes no target back.

Bootstrap: a target that has never been assigned anything gets the latest published
revision at its first check-in (`bootstrap`), recorded as its assignment under the change
id `bootstrap-<revision>`; from then on only rollouts move it.
"""

from __future__ import annotations

from dataclasses import dataclass

from producers.store import assignments as rows
from producers.store.database import Database


@dataclass(frozen=True)
class Assignment:
    revision: int
    change_id: str


class Assignments:
    """Reads and advances assigned revisions."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def assign(self, target: str, revision: int, change_id: str) -> bool:
        """Assign `revision` unless the target already has a newer one (then False).

        Assignments only move forward: a slow rollout of an older revision never takes a
        target back behind a newer one. To roll back, publish the old content anew.
        """
        with self.db.connection() as conn:
            return rows.assign(conn, target, revision, change_id)

    def bootstrap(self, target: str, revision: int) -> Assignment | None:
        """Assign `revision` to a target that has no assignment yet; its assignment after.

        A rollout that assigned the target meanwhile wins.
        """
        with self.db.connection() as conn:
            row = rows.assign_if_unassigned(conn, target, revision, bootstrap_id(revision))
        return Assignment(row.revision, row.change_id)

    def get(self, target: str) -> Assignment | None:
        with self.db.connection() as conn:
            row = rows.assigned(conn, target)
        return Assignment(row.revision, row.change_id) if row else None

    def all(self) -> dict[str, Assignment]:
        with self.db.connection() as conn:
            found = rows.all_assigned(conn)
        return {target: Assignment(row.revision, row.change_id) for target, row in found.items()}


def bootstrap_id(revision: int) -> str:
    """The change id under which first check-ins at `revision` report (`provision status`)."""
    return f"bootstrap-{revision}"
