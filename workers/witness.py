"""The witness of a converged root: what each managed file was when the engine last found
the root converged, so that a rerun can tell "nothing changed since" from the files alone.

A no-change rerun of `provision converge` spends most of its time starting the engine
(pydantic, the contracts, the resource types), not looking at files. The engine is a pure
function of the state file's bytes, the code, the settings and what it observes; when all
of them are as they were at a run that found every resource converged, the engine would
find the same again. The witness records the observation (type, permission bits, owner,
hard links, size and a keyed hash of each file) in the invoking user's cache, never
under the root; `workers.shortcut` compares it and, on any doubt, runs the engine.

Only this module reads a root for the witness, with a stricter walk than the engine's:
no link is followed anywhere (not even one inside the root) and `..` is refused, so a
path that the engine would resolve differently is never judged here; it is a miss.
Nothing here writes under the root.
"""

from __future__ import annotations

import hashlib
import os
import stat

from workers.engine.target_files import DIR_FLAGS, READ_FLAGS

#: Files larger than this are not witnessed (the engine reads them; a rerun runs it).
MAX_FILE_BYTES = 8 * 1024 * 1024

#: What one file looked like: [st_mode, uid, gid, links, size, keyed blake2b hex].
Seen = list[int | str]


def components(path: str) -> list[str] | None:
    """The names along a spec path, or None when this walk does not judge it (`..`, `/`)."""
    names = [name for name in path.split("/") if name and name != "."]
    if not names or ".." in names:
        return None
    return names


def observe(root: str, paths: list[str], key: bytes) -> list[Seen] | None:
    """What each path is now, in order; None as soon as one cannot be witnessed.

    Args:
        root: The host directory that plays `/` (opened as the engine opens it: its
            real path).
        paths: Spec paths of regular files.
        key: The cache's secret: the hashes say whether content is the same, nothing more.
    """
    directories = _tree(root)
    if directories is None:
        return None
    try:
        seen = []
        for path in paths:
            one = _observe_one(directories, path, key)
            if one is None:
                return None
            seen.append(one)
        return seen
    finally:
        _close(directories)


def open_under(root: str, path: str, flags: int) -> int | None:
    """`path` under `root` opened with `flags` (and O_NOFOLLOW) by the same strict walk;
    None when it cannot be. The caller closes the descriptor."""
    names = components(path)
    directories = _tree(root)
    if directories is None or names is None:
        return None
    try:
        parent = _directory(directories, tuple(names[:-1]))
        if parent is None:
            return None
        return os.open(names[-1], flags | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
    except OSError:
        return None
    finally:
        _close(directories)


def regular(info: os.stat_result) -> bool:
    return stat.S_ISREG(info.st_mode)


def _tree(root: str) -> dict[tuple[str, ...], int] | None:
    """The directories this walk opens under `root`, by their names: the root's own first."""
    try:
        return {(): os.open(os.path.realpath(root), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)}
    except OSError:
        return None


def _close(directories: dict[tuple[str, ...], int]) -> None:
    for descriptor in directories.values():
        os.close(descriptor)


def _observe_one(directories: dict[tuple[str, ...], int], path: str, key: bytes) -> Seen | None:
    names = components(path)
    if names is None:
        return None
    parent = _directory(directories, tuple(names[:-1]))
    if parent is None:
        return None
    try:
        descriptor = os.open(names[-1], READ_FLAGS, dir_fd=parent)
    except OSError:  # missing, a link (ELOOP), no permission: the engine decides
        return None
    try:
        info = os.fstat(descriptor)
        if not regular(info) or info.st_size > MAX_FILE_BYTES:
            return None
        digest = hashlib.blake2b(key=key, digest_size=32)
        read = 0
        while chunk := os.read(descriptor, 1 << 20):
            read += len(chunk)
            if read > info.st_size:  # growing while read: a comparison later would miss
                return None
            digest.update(chunk)
        if read != info.st_size:
            return None
    except OSError:
        return None
    finally:
        os.close(descriptor)
    return [info.st_mode, info.st_uid, info.st_gid, info.st_nlink, info.st_size, digest.hexdigest()]


def _directory(directories: dict[tuple[str, ...], int], names: tuple[str, ...]) -> int | None:
    """The directory at `names` under the root, opened one name at a time without links."""
    known = directories.get(names)
    if known is not None:
        return known
    parent = _directory(directories, names[:-1])
    if parent is None:
        return None
    try:
        directories[names] = os.open(names[-1], DIR_FLAGS, dir_fd=parent)
    except OSError:  # missing, a link (ENOTDIR), not a directory: the engine decides
        return None
    return directories[names]
