"""How the engine reaches a target (a Host): a root paths resolve under, a place to run argv."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from workers.engine.hosts.walk import Spot


@dataclass(frozen=True)
class CommandResult:
    """How a command ended. `exit_code` is None when it was killed at its timeout."""

    argv: tuple[str, ...]
    exit_code: int | None
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        """True when the command exited 0."""
        return self.exit_code == 0

    def describe(self) -> str:
        """One line: how it ended and the tail of what it said (never for guards or checks)."""
        ended = "timed out" if self.exit_code is None else f"exited {self.exit_code}"
        tail = (self.stderr.strip() or self.stdout.strip()).splitlines()[-1:]
        return f"{ended}: {tail[0][:200]}" if tail else ended


class Host(Protocol):
    """A reachable machine (or directory) the engine converges.

    Every method takes spec paths such as /etc/motd and resolves them inside the root on
    each call, as `openat2(RESOLVE_IN_ROOT)` would: `..` stops at the root and an absolute
    link destination means the root's own `/`. Nothing is cached between calls.
    Errors are `PathError` (naming the spec path) or OSError; FileNotFoundError when a
    directory on the way is missing.
    """

    @property
    def root(self) -> str:
        """The real host path of the root, for messages and the commands' environment."""
        ...

    def real_address(self) -> str:
        """The address of the directory actually opened as the root (links resolved), so
        an allow rule can be checked against where the root really is."""
        ...

    def spot(self, path: str, *, follow: bool = True, parents: bool = False) -> Spot:
        """Resolve a spec path: the open directory it is in, its last name, its real path."""
        ...

    def lstat(self, path: str, *, follow: bool = True) -> os.stat_result | None:
        """What is at the path (last link followed inside the root if `follow`), or None."""
        ...

    def read(self, path: str) -> tuple[os.stat_result | None, bytes | None]:
        """The entry (link followed) and, for a regular file, its content, from one open."""
        ...

    def readlink(self, path: str) -> str | None:
        """The link text at the path, or None when it is not a link."""
        ...

    def listdir(self, path: str) -> list[str]:
        """The names in a directory."""
        ...

    def scan(self, path: str) -> list[tuple[str, os.stat_result]]:
        """Everything beneath a directory, links not followed: (relative path, lstat)."""
        ...

    def put(
        self,
        path: str,
        data: bytes,
        *,
        mode: int,
        uid: int = -1,
        gid: int = -1,
        durable: bool = True,
        parents: bool = True,
        allow_hardlinks: bool = False,
    ) -> None:
        """Write a file atomically: a temporary file beside it, fsync, rename (uid -1: keep).

        `durable=False` skips the fsyncs: still atomic, and intact after any process
        crash, but not promised to survive a power cut (bookkeeping that can be rebuilt).
        """
        ...

    def set_meta(
        self,
        path: str,
        *,
        mode: int | None = None,
        uid: int | None = None,
        gid: int | None = None,
        follow: bool = True,
        allow_hardlinks: bool = False,
    ) -> None:
        """Set owner and mode of the entry at the path (None: leave as is)."""
        ...

    def mkdir(self, path: str, mode: int) -> None:
        """Create a directory and its missing parents."""
        ...

    def symlink(self, path: str, destination: str, *, replace_dir: bool = False) -> None:
        """Make the path a symlink to `destination`, atomically."""
        ...

    def remove(self, path: str) -> None:
        """Remove what is at the path (a directory with its contents), never following it."""
        ...

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: str = "/",
        env: Mapping[str, str] | None = None,
        timeout_s: float = 300.0,
    ) -> CommandResult:
        """Run argv (never through a shell) in `cwd`; at the timeout its whole tree is killed."""
        ...

    def sync(self) -> None:
        """Flush what was deferred (directory fsyncs); the target stays open."""
        ...

    def close(self) -> None:
        """Flush what was deferred (directory fsyncs) and release the target."""
        ...


def ended(result: CommandResult) -> str:
    """How a command ended, without anything it printed (for guards and readiness checks)."""
    return "timed out" if result.exit_code is None else f"exited {result.exit_code}"
