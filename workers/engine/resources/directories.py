"""Directories: existence, mode and ownership, optionally over everything beneath."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from contracts.resources import DirectorySpec
from workers.engine.hosts import Host
from workers.engine.resources.base import Action, Context, ResourceError, join_summaries
from workers.engine.resources.ownership import (
    DEFAULT_DIR_MODE,
    Inode,
    check_hardlinks,
    lookup_gid,
    lookup_uid,
    ownership_changes,
    parse_mode,
)
from workers.engine.resources.paths import entry_at, path_errors


@dataclass(frozen=True)
class DesiredDirectory:
    """A DirectorySpec settled for one target."""

    path: str
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    recurse: bool = False
    allow_hardlinks: bool = False


@dataclass(frozen=True)
class ObservedDirectory:
    """The directory's entry (None if absent) and, when recursing, what lies beneath."""

    path: str
    entry: Inode | None = None
    beneath: tuple[tuple[str, Inode], ...] = ()


class Directories:
    """The `directory` resource type."""

    def prepare(self, spec: DirectorySpec, context: Context) -> DesiredDirectory:
        """Look up owner and group."""
        return DesiredDirectory(
            spec.path,
            parse_mode(spec.mode),
            lookup_uid(spec.owner),
            lookup_gid(spec.group),
            spec.recurse,
            spec.allow_hardlinks,
        )

    def observe(self, target: Host, desired: DesiredDirectory) -> ObservedDirectory:
        """lstat the directory; when recursing, lstat everything beneath (links not followed)."""
        path = desired.path
        with path_errors(path):
            seen = entry_at(target, path)
            if seen is None:
                return ObservedDirectory(path)
            entry = Inode.of(seen)
            beneath: tuple[tuple[str, Inode], ...] = ()
            if desired.recurse and entry.kind == "directory":
                beneath = tuple(
                    (path.rstrip("/") + "/" + relative, Inode.of(child))
                    for relative, child in target.scan(path)
                )
        return ObservedDirectory(path, entry, beneath)

    def diff(self, desired: DesiredDirectory, observed: ObservedDirectory) -> list[Action]:
        """Pure: create when absent; fix mode and owner of it (and of what lies beneath)."""
        entry = observed.entry
        if entry is None:
            mode = desired.mode if desired.mode is not None else DEFAULT_DIR_MODE
            return [Action("create", f"create directory, mode {mode:04o}")]
        if entry.kind != "directory":
            raise ResourceError(f"a {entry.kind} is in the way of directory {desired.path}")
        changes = ownership_changes(desired.mode, desired.uid, desired.gid, entry)
        wrong = [child for child, seen in observed.beneath if self._differs(desired, seen)]
        for child, seen in observed.beneath:
            if child in wrong:
                check_hardlinks(child, seen, desired.allow_hardlinks)
        if wrong:
            changes.append(Action("beneath", f"fix mode or owner of {len(wrong)} entries beneath"))
        return changes

    @staticmethod
    def _differs(desired: DesiredDirectory, seen: Inode) -> bool:
        if seen.kind == "symlink":
            return False
        mode = desired.mode if seen.kind == "directory" else None
        return bool(ownership_changes(mode, desired.uid, desired.gid, seen))

    def apply(
        self,
        target: Host,
        desired: DesiredDirectory,
        observed: ObservedDirectory,
        changes: Sequence[Action],
    ) -> None:
        """Create (with parents), then set mode and owner where they differ."""
        actions = {change.action for change in changes}
        owner = "owner" in actions or "create" in actions
        with path_errors(desired.path):
            if "create" in actions:
                target.mkdir(desired.path, DEFAULT_DIR_MODE)
            if actions & {"create", "owner", "mode"}:
                target.set_meta(
                    desired.path,
                    mode=desired.mode if actions & {"create", "mode"} else None,
                    uid=desired.uid if owner else None,
                    gid=desired.gid if owner else None,
                )
            for child, seen in observed.beneath:
                if not self._differs(desired, seen):
                    continue
                target.set_meta(
                    child,
                    mode=desired.mode if seen.kind == "directory" else None,
                    uid=desired.uid,
                    gid=desired.gid,
                    follow=False,
                    allow_hardlinks=desired.allow_hardlinks,
                )

    def summarize(
        self, desired: DesiredDirectory, observed: ObservedDirectory, changes: Sequence[Action]
    ) -> str:
        """The changes, or the directory's mode when converged."""
        entry = observed.entry
        converged = f"directory, mode {entry.mode:04o}" if entry else "directory"
        return join_summaries(changes, converged)
