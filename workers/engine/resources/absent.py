"""Absent paths: whatever is there (file, link, directory tree) is removed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from contracts.resources import AbsentSpec
from workers.engine.hosts import Host
from workers.engine.resources.base import Action, Context, SpecError, join_summaries
from workers.engine.resources.ownership import Inode
from workers.engine.resources.paths import entry_at, is_root, path_errors


@dataclass(frozen=True)
class DesiredAbsence:
    """An AbsentSpec (its last component is never followed)."""

    path: str


@dataclass(frozen=True)
class ObservedAbsence:
    """What is at the path now: None, "file", "symlink", "directory" or "other"."""

    path: str
    kind: str | None = None


class Absent:
    """The `absent` resource type."""

    def prepare(self, spec: AbsentSpec, context: Context) -> DesiredAbsence:
        """The root itself may never be removed."""
        if is_root(spec.path):
            raise SpecError("path", "the target's root cannot be removed")
        return DesiredAbsence(spec.path)

    def observe(self, target: Host, desired: DesiredAbsence) -> ObservedAbsence:
        """One lstat; a link is reported as a link, never followed."""
        with path_errors(desired.path):
            seen = entry_at(target, desired.path, follow=False)
        if seen is None:
            return ObservedAbsence(desired.path)
        return ObservedAbsence(desired.path, Inode.of(seen).kind)

    def diff(self, desired: DesiredAbsence, observed: ObservedAbsence) -> list[Action]:
        """Pure: remove whatever is there."""
        if observed.kind is None:
            return []
        return [Action("remove", f"remove {observed.kind}")]

    def apply(
        self,
        target: Host,
        desired: DesiredAbsence,
        observed: ObservedAbsence,
        changes: Sequence[Action],
    ) -> None:
        """Unlink; or rename a directory aside (atomic), then delete it without following links."""
        with path_errors(desired.path):
            target.remove(desired.path)

    def summarize(
        self, desired: DesiredAbsence, observed: ObservedAbsence, changes: Sequence[Action]
    ) -> str:
        """The removal, or "absent" when there was nothing."""
        return join_summaries(changes, "absent")
