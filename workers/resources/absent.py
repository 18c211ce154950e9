"""Absent paths: whatever is there (file, link, directory tree) is removed."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass

from contracts.resources import AbsentSpec
from workers.resources.base import Change, Context, SpecError, join_summaries
from workers.resources.ownership import Entry
from workers.targets import Target


@dataclass(frozen=True)
class DesiredAbsence:
    """An AbsentSpec whose path was confined (its last component is never followed)."""

    path: str


@dataclass(frozen=True)
class ObservedAbsence:
    """What is at the path now: None, "file", "symlink", "directory" or "other"."""

    location: str
    kind: str | None = None


class Absent:
    """The `absent` resource type."""

    def prepare(self, spec: AbsentSpec, context: Context) -> DesiredAbsence:
        """Confine the parent; the root itself may never be removed."""
        if context.target.resolve(spec.path, follow=False) == context.target.root:
            raise SpecError("path", "the target's root cannot be removed")
        return DesiredAbsence(spec.path)

    def observe(self, target: Target, desired: DesiredAbsence) -> ObservedAbsence:
        """One lstat; a link is reported as a link, never followed."""
        location = target.resolve(desired.path, follow=False)
        try:
            seen = os.lstat(location)
        except FileNotFoundError:
            return ObservedAbsence(location)
        return ObservedAbsence(location, Entry.of(seen).kind)

    def diff(self, desired: DesiredAbsence, observed: ObservedAbsence) -> list[Change]:
        """Pure: remove whatever is there."""
        if observed.kind is None:
            return []
        return [Change("remove", f"remove {observed.kind}")]

    def apply(
        self,
        target: Target,
        desired: DesiredAbsence,
        observed: ObservedAbsence,
        changes: Sequence[Change],
    ) -> None:
        """Unlink; or rename a directory aside (atomic), then delete it without following links."""
        location = observed.location
        if observed.kind != "directory":
            os.unlink(location)
        else:
            directory, name = os.path.split(location)
            aside = os.path.join(directory, f".{name}.{os.getpid()}.provision-removed")
            os.rename(location, aside)
            shutil.rmtree(aside)
        target.forget()

    def summarize(
        self, desired: DesiredAbsence, observed: ObservedAbsence, changes: Sequence[Change]
    ) -> str:
        """The removal, or "absent" when there was nothing."""
        return join_summaries(changes, "absent")
