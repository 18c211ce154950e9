"""What a target is: a root that paths resolve under, and a place to run argv."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


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
        """One line: how it ended and the tail of what it said."""
        ended = "timed out" if self.exit_code is None else f"exited {self.exit_code}"
        tail = (self.stderr.strip() or self.stdout.strip()).splitlines()[-1:]
        return f"{ended}: {tail[0][:200]}" if tail else ended


class Target(Protocol):
    """A reachable machine (or directory) the engine converges.

    Paths given to `resolve` are spec paths, read relative to `root` (chroot semantics).
    Every method that returns a location has checked that it stays under the root.
    """

    @property
    def root(self) -> str:
        """The real path of the root; everything the engine touches is beneath it."""
        ...

    def resolve(self, path: str, *, follow: bool = True) -> str:
        """The real location of a spec path.

        Args:
            path: A spec path such as /etc/motd.
            follow: Also follow a symlink at the last component (False for kinds that
                manage the link itself: symlink, absent).

        Raises:
            ConfinementError: a symlink on the way leads outside the root.
        """
        ...

    def confine(self, location: str, path: str) -> str:
        """Return the real form of a host location, or raise ConfinementError if outside."""
        ...

    def forget(self) -> None:
        """Drop cached resolutions; called after a change that reshapes the tree."""
        ...

    def put(
        self,
        location: str,
        data: bytes,
        *,
        mode: int,
        uid: int = -1,
        gid: int = -1,
        durable: bool = True,
    ) -> None:
        """Write a file atomically: a temporary file beside it, fsync, rename (uid -1: keep).

        `durable=False` skips the fsyncs: still atomic, and intact after any process
        crash, but not promised to survive a power cut (bookkeeping that can be rebuilt).
        """
        ...

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: str,
        env: Mapping[str, str] | None = None,
        timeout_s: float = 300.0,
    ) -> CommandResult:
        """Run argv (never through a shell) and wait for it, killing it at the timeout."""
        ...

    def close(self) -> None:
        """Flush what was deferred (directory fsyncs) and release the target."""
        ...
