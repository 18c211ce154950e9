"""Directories: existence, mode and ownership, optionally over everything beneath."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from contracts.resources import DirectorySpec
from workers.resources.base import Change, Context, ResourceError, join_summaries
from workers.resources.ownership import (
    DEFAULT_DIR_MODE,
    Entry,
    lookup_gid,
    lookup_uid,
    ownership_changes,
    parse_mode,
    set_owner,
)
from workers.targets import Target


@dataclass(frozen=True)
class DesiredDirectory:
    """A DirectorySpec settled for one target."""

    path: str
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    recurse: bool = False


@dataclass(frozen=True)
class ObservedDirectory:
    """The directory's entry (None if absent) and, when recursing, what lies beneath."""

    location: str
    entry: Entry | None = None
    beneath: tuple[tuple[str, Entry], ...] = ()


class Directories:
    """The `directory` resource type."""

    def prepare(self, spec: DirectorySpec, context: Context) -> DesiredDirectory:
        """Look up owner and group and confine the path."""
        context.target.resolve(spec.path)
        return DesiredDirectory(
            spec.path,
            parse_mode(spec.mode),
            lookup_uid(spec.owner),
            lookup_gid(spec.group),
            spec.recurse,
        )

    def observe(self, target: Target, desired: DesiredDirectory) -> ObservedDirectory:
        """lstat the directory; when recursing, lstat everything beneath (links not followed)."""
        location = target.resolve(desired.path)
        try:
            entry = Entry.of(os.lstat(location))
        except FileNotFoundError:
            return ObservedDirectory(location)
        beneath: list[tuple[str, Entry]] = []
        if desired.recurse and entry.kind == "directory":
            for top, dirs, files in os.walk(location):
                for name in (*dirs, *files):
                    child = os.path.join(top, name)
                    beneath.append((child, Entry.of(os.lstat(child))))
        return ObservedDirectory(location, entry, tuple(beneath))

    def diff(self, desired: DesiredDirectory, observed: ObservedDirectory) -> list[Change]:
        """Pure: create when absent; fix mode and owner of it (and of what lies beneath)."""
        entry = observed.entry
        if entry is None:
            mode = desired.mode if desired.mode is not None else DEFAULT_DIR_MODE
            return [Change("create", f"create directory, mode {mode:04o}")]
        if entry.kind != "directory":
            raise ResourceError(f"a {entry.kind} is in the way of directory {desired.path}")
        changes = ownership_changes(desired.mode, desired.uid, desired.gid, entry)
        wrong = [child for child, seen in observed.beneath if self._differs(desired, seen)]
        if wrong:
            changes.append(Change("beneath", f"fix mode or owner of {len(wrong)} entries beneath"))
        return changes

    @staticmethod
    def _differs(desired: DesiredDirectory, seen: Entry) -> bool:
        if seen.kind == "symlink":
            return False
        mode = desired.mode if seen.kind == "directory" else None
        return bool(ownership_changes(mode, desired.uid, desired.gid, seen))

    def apply(
        self,
        target: Target,
        desired: DesiredDirectory,
        observed: ObservedDirectory,
        changes: Sequence[Change],
    ) -> None:
        """Create (with parents), then set mode and owner where they differ."""
        location = observed.location
        actions = {change.action for change in changes}
        if "create" in actions:
            os.makedirs(location, mode=DEFAULT_DIR_MODE, exist_ok=True)
            if desired.uid is not None or desired.gid is not None:
                set_owner(location, desired.uid, desired.gid)
            if desired.mode is not None:
                os.chmod(location, desired.mode)
            return
        if "owner" in actions:
            set_owner(location, desired.uid, desired.gid)
        if "mode" in actions and desired.mode is not None:
            os.chmod(location, desired.mode)
        for child, seen in observed.beneath:
            if not self._differs(desired, seen):
                continue
            if (desired.uid is not None and seen.uid != desired.uid) or (
                desired.gid is not None and seen.gid != desired.gid
            ):
                set_owner(child, desired.uid, desired.gid)
            if seen.kind == "directory" and desired.mode is not None:
                os.chmod(child, desired.mode, follow_symlinks=False)

    def summarize(
        self, desired: DesiredDirectory, observed: ObservedDirectory, changes: Sequence[Change]
    ) -> str:
        """The changes, or the directory's mode when converged."""
        entry = observed.entry
        converged = f"directory, mode {entry.mode:04o}" if entry else "directory"
        return join_summaries(changes, converged)
