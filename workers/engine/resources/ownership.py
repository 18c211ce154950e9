"""Modes, owners and groups: parsing them from specs and showing them in summaries."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass

from workers.engine.resources.base import Action, ResourceError, SpecError

#: Mode for new files when the spec gives none (directories get DEFAULT_DIR_MODE).
DEFAULT_FILE_MODE = 0o644
DEFAULT_DIR_MODE = 0o755


@dataclass(frozen=True)
class Inode:
    """What one lstat saw: the kind of entry, its permission bits and its owner."""

    kind: str
    mode: int
    uid: int
    gid: int
    links: int = 1

    @classmethod
    def of(cls, seen: os.stat_result) -> Inode:
        """Classify an lstat (or stat) result."""
        kind = (
            "file"
            if stat.S_ISREG(seen.st_mode)
            else "directory"
            if stat.S_ISDIR(seen.st_mode)
            else "symlink"
            if stat.S_ISLNK(seen.st_mode)
            else "other"
        )
        return cls(kind, stat.S_IMODE(seen.st_mode), seen.st_uid, seen.st_gid, seen.st_nlink)


def parse_mode(mode: str | None) -> int | None:
    """An octal mode string ("0644") as an int; None stays None (leave the mode alone)."""
    return None if mode is None else int(mode, 8)


def show_mode(mode: int | None) -> str:
    """ "0644", or "none" for something that does not exist yet."""
    return "none" if mode is None else f"{stat.S_IMODE(mode):04o}"


def _lookup(
    value: str | int | None, field: str, kind: str, by_name: Callable[[str], int]
) -> int | None:
    """A name or id as a number (looked up on the worker's host); None stays None.

    Raises:
        SpecError: `field` names an unknown `kind` (user or group).
    """
    if value is None:
        return None
    if isinstance(value, int) or value.isdigit():
        return int(value)
    try:
        return by_name(value)
    except KeyError:
        raise SpecError(field, f"unknown {kind} {value!r}") from None


def lookup_uid(owner: str | int | None) -> int | None:
    """A user name or id as a uid."""
    import pwd

    return _lookup(owner, "owner", "user", lambda name: pwd.getpwnam(name).pw_uid)


def lookup_gid(group: str | int | None) -> int | None:
    """A group name or id as a gid."""
    import grp

    return _lookup(group, "group", "group", lambda name: grp.getgrnam(name).gr_gid)


def ownership_changes(
    mode: int | None, uid: int | None, gid: int | None, seen: Inode | None
) -> list[Action]:
    """Pure: the mode and owner changes that take an existing entry (`seen`) to the spec."""
    if seen is None:
        return []
    changes = []
    if mode is not None and seen.mode != mode:
        changes.append(Action("mode", f"mode {show_mode(seen.mode)} -> {show_mode(mode)}"))
    if (uid is not None and seen.uid != uid) or (gid is not None and seen.gid != gid):
        old = f"{seen.uid}:{seen.gid}"
        new = f"{seen.uid if uid is None else uid}:{seen.gid if gid is None else gid}"
        changes.append(Action("owner", f"owner {old} -> {new}"))
    return changes


#: Mode bits that make a program run as its owner or group.
SETID_BITS = stat.S_ISUID | stat.S_ISGID


def check_hardlinks(path: str, entry: Inode | None, allowed: bool) -> None:
    """Refuse a regular file with other names: one of them may be outside the root.

    Raises:
        ResourceError: the file has more than one hard link and the spec did not allow it.
    """
    if entry is not None and entry.kind == "file" and entry.links > 1 and not allowed:
        raise ResourceError(
            f"{path} is a regular file with {entry.links} hard links; refusing to change it "
            "(set allow_hardlinks: true if every name is meant)"
        )


def check_setid(path: str, mode: int | None, allowed: bool) -> None:
    """Refuse to write a file that would be setuid or setgid (e.g. a kept mode 4755).

    Raises:
        ResourceError: the mode has setuid/setgid bits and the spec did not allow them.
    """
    if mode is not None and mode & SETID_BITS and not allowed:
        raise ResourceError(
            f"{path} would be setuid/setgid (mode {mode:04o}); set allow_setid: true to allow it"
        )
