"""Resolving spec paths inside a root, by file descriptor.

The meaning is that of `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`: `..` stops at
the root, and a symlink's absolute destination means the root's own `/`. Where the kernel
has openat2, it resolves the directory (`workers.engine.hosts.openat2`); elsewhere, or when a
directory must be created on the way or an error explained, the walk goes one component
at a time from an open descriptor of the root, opening each directory with `O_NOFOLLOW`
and reading each link itself, so the kernel never follows a link for us. Either way no
link (old, new, made by a command, or swapped in concurrently) can lead outside.
Nothing is cached; every operation resolves afresh.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections import deque
from dataclasses import dataclass

from workers.engine.hosts import openat2
from workers.engine.hosts.errors import PathError
from workers.engine.target_files import DIR_FLAGS

#: Links followed in one resolution before giving up (the kernel's own bound).
MAX_LINKS = 40


@dataclass
class Spot:
    """Where a spec path leads: an open descriptor of its directory and the final name.

    `name` is "" when the path is the root itself. `real` is the resolved spec path
    (e.g. /etc/app/f0.conf for /etc/app/current). `seen` is the lstat of `name` that the
    resolution itself took, when it took one (to know whether to follow a link), so a
    reader need not take it again; None says nothing. The caller closes `parent`.
    """

    parent: int
    name: str
    real: str
    seen: os.stat_result | None = None

    def close(self) -> None:
        """Close the directory descriptor."""
        os.close(self.parent)

    def __enter__(self) -> Spot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parts(path: str) -> list[str]:
    """The components of a path, without empty ones and `.`."""
    return [part for part in path.split("/") if part and part != "."]


def walk(
    root_fd: int,
    path: str,
    *,
    follow: bool = True,
    parents: bool = False,
    dir_mode: int = 0o755,
    root_host: str | None = None,
) -> Spot:
    """Resolve `path` under the root descriptor.

    Args:
        root_fd: An open descriptor of the root directory.
        path: A spec path such as /etc/motd.
        follow: Also follow a symlink at the last component (inside the root).
        parents: Create missing directories on the way (mode `dir_mode`).
        root_host: Where `root_fd` is on the host (its /proc/self/fd link, without a
            trailing slash), when the caller read it once for many walks; else it is read
            here. Used only to tell that openat2's directory is inside the root: if the
            root has moved since, nothing looks inside and the component walk answers.

    Raises:
        FileNotFoundError: a directory on the way is missing (and `parents` is False).
        PathError: something on the way is not a directory, or links loop.
    """
    if openat2.AVAILABLE:
        found = _kernel_walk(root_fd, path, follow, root_host)
        if found is not None:
            return found
    return _walk(root_fd, path, follow, parents, dir_mode)


def _kernel_walk(root_fd: int, path: str, follow: bool, root_host: str | None) -> Spot | None:
    """openat2 resolves the directory; a link at the last name is followed here.

    None when the component walk must answer instead: something is missing or wrong on
    the way (it creates directories, or names the culprit), or the path ends in `..`.
    """
    if root_host is None:
        root_host = host_path(root_fd)
    for _ in range(MAX_LINKS + 1):
        items = parts(path)
        if not items:
            return Spot(os.dup(root_fd), "", "/")
        name = items[-1]
        if name == "..":
            return None
        try:
            fd = openat2.open_in_root(root_fd, "/".join(items[:-1]) or ".", DIR_FLAGS)
        except OSError:
            return None
        try:
            host = os.readlink(f"/proc/self/fd/{fd}")
            inside = host == root_host or host.startswith(root_host + "/")
            real = host[len(root_host) :] + "/" + name
            try:
                seen = os.stat(name, dir_fd=fd, follow_symlinks=False) if follow else None
            except FileNotFoundError:
                seen = None
            if inside and (seen is None or not stat.S_ISLNK(seen.st_mode)):
                return Spot(fd, name, real, seen)
            text = os.readlink(name, dir_fd=fd) if inside else ""
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
        if not inside:
            return None
        path = text if text.startswith("/") else real.rpartition("/")[0] + "/" + text
    return None


def host_path(fd: int) -> str:
    """Where an open directory is on the host, without a trailing slash (`""` for `/`)."""
    return os.readlink(f"/proc/self/fd/{fd}").rstrip("/")


def _walk(root_fd: int, path: str, follow: bool, parents: bool, dir_mode: int) -> Spot:
    """The component-by-component walk, with the meaning of openat2(RESOLVE_IN_ROOT)."""
    pending = deque(parts(path))
    stack = [os.dup(root_fd)]
    names: list[str] = []
    links = 0
    try:
        while pending:
            name = pending.popleft()
            if name == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                    names.pop()
                continue
            last = not pending
            if last and not follow:
                return _spot(stack, names, name)
            try:
                seen = os.stat(name, dir_fd=stack[-1], follow_symlinks=False)
            except FileNotFoundError:
                if last:
                    return _spot(stack, names, name)
                if not parents:
                    raise FileNotFoundError(
                        errno.ENOENT, f"{_show(names, name)} does not exist"
                    ) from None
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, dir_mode, dir_fd=stack[-1])
                pending.appendleft(name)
                continue
            if stat.S_ISLNK(seen.st_mode):
                links += 1
                if links > MAX_LINKS:
                    raise PathError(path, f"more than {MAX_LINKS} symlinks on the way (a loop?)")
                text = os.readlink(name, dir_fd=stack[-1])
                if text.startswith("/"):
                    while len(stack) > 1:
                        os.close(stack.pop())
                    names.clear()
                pending.extendleft(reversed(parts(text)))
                continue
            if last:
                return _spot(stack, names, name, seen)
            if not stat.S_ISDIR(seen.st_mode):
                raise PathError(path, f"{_show(names, name)} is not a directory")
            try:
                stack.append(os.open(name, DIR_FLAGS, dir_fd=stack[-1]))
            except OSError as exc:  # replaced between the lstat and the open: look again
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR, errno.ENOENT):
                    raise
                pending.appendleft(name)
                links += 1
                continue
            names.append(name)
        return _spot(stack, names, "")
    except BaseException:
        for fd in stack:
            os.close(fd)
        raise


def _spot(
    stack: list[int], names: list[str], name: str, seen: os.stat_result | None = None
) -> Spot:
    """Keep the innermost descriptor, close the others."""
    for fd in stack[:-1]:
        os.close(fd)
    parent = stack[-1]
    stack.clear()  # the caller's cleanup must not close the kept one
    return Spot(parent, name, _show(names, name), seen)


def _show(names: list[str], name: str) -> str:
    return "/" + "/".join([*names, name] if name else names)
