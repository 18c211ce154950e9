"""What can go wrong in reaching a target or staying inside it."""

from __future__ import annotations

from contracts import ProvisioningError


class TargetError(ProvisioningError):
    """The target could not be used. Permanent unless a subclass says otherwise."""

    transient: bool = False


class UnsupportedTarget(TargetError):
    """The address names a scheme no target class handles."""


class TargetMissing(TargetError):
    """The target's root does not exist or is not a directory."""


class PathError(TargetError):
    """A spec path cannot be used as asked (a file in the way, a link loop, a hard link)."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class ConfinementError(PathError):
    """A path would lead outside the target's root (or be the root where that is refused)."""
