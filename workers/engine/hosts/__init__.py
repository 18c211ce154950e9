"""How the engine reaches a target, chosen by the scheme of its address (like kombu transports).

Adding a way to reach machines means one module here and one line in `TARGETS`.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from contracts import Target
from workers.engine.hosts.allow import NotAllowed, installed
from workers.engine.hosts.base import CommandResult, Host, ended
from workers.engine.hosts.errors import (
    ConfinementError,
    PathError,
    TargetError,
    TargetMissing,
    UnsupportedTarget,
)
from workers.engine.hosts.local import LocalHost

#: Every way of reaching a target, by URL scheme: address → connected target. One line each.
TARGETS: dict[str, Callable[[str], Host]] = {
    "local": LocalHost.from_address,
}


def connect(spec: Target) -> Host:
    """Reach the target an address names.

    Args:
        spec: The target; its address is e.g. `local:///srv/root`.

    Returns:
        A connected target; call `close()` when done.

    Raises:
        UnsupportedTarget: no target class handles the address's scheme.
        TargetMissing: the address names no usable root.
        NotAllowed: this process is a worker and the address, or the real directory it
            leads to (through links), is outside its allow rule.
    """
    rule = installed()
    if rule is not None:
        rule.check(spec.address)
    scheme = urlsplit(spec.address).scheme
    open_target = TARGETS.get(scheme)
    if open_target is None:
        known = ", ".join(sorted(TARGETS))
        raise UnsupportedTarget(
            f"address {spec.address!r}: scheme {scheme!r} is not supported (known: {known})"
        )
    host = open_target(spec.address)
    if rule is not None:
        real = host.real_address()
        why = rule.why_not(real)
        if why is not None:
            host.close()
            raise NotAllowed(f"{spec.address}: its root is really {real}: {why}")
    return host


__all__ = [
    "TARGETS",
    "CommandResult",
    "ConfinementError",
    "Host",
    "NotAllowed",
    "PathError",
    "TargetError",
    "TargetMissing",
    "UnsupportedTarget",
    "connect",
    "ended",
]
