"""The pull agent's root is its own configuration's, never the check-in reply's.

A reply says how the control plane knows the target, address included. Were the agent to
converge whatever `local://` root a reply names, anyone who can answer a check-in (or edit
the inventory) could point a root-privileged agent at `/etc`. So the agent converges:

1. `--root`, when given;
2. else the `local://` address its credentials were enrolled with (`provision enroll`);
3. else `/` (the agent runs on the machine itself).

And a reply whose target address differs from the enrolled one (normalised, see
`workers.engine.hosts.allow.normalise`) is refused and reported as `rejected`. Credentials
from before enrollment recorded the address carry none: then, without `--root`, a reply
may name only `local:///` (or a non-local address, which describes how push reaches the
machine and is not a root on it).
"""

from __future__ import annotations

from pathlib import Path

from contracts import Target
from workers.engine.hosts.allow import NotAllowed, normalise

LOCAL = "local://"


def own_address(root: Path | None, enrolled: str | None) -> str:
    """The address this agent converges, from its configuration alone."""
    if root is not None:
        return f"{LOCAL}{root.absolute()}"
    if enrolled is not None and enrolled.startswith(LOCAL):
        return enrolled
    return f"{LOCAL}/"


def foreign(known: Target | None, root: Path | None, enrolled: str | None) -> str | None:
    """Why the reply's target `known` names another root than this agent's, or None."""
    if known is None:
        return None
    if enrolled is not None:
        expected = enrolled
    elif root is None and known.address.startswith(LOCAL):
        expected = f"{LOCAL}/"
    else:
        return None  # --root decides, and no enrolled address to hold the reply to
    if _same(known.address, expected):
        return None
    return (
        f"the check-in reply names target address {known.address!r}, but this agent "
        f"serves {expected!r} (its credentials, or / without them); refused: a reply "
        "cannot choose the root (re-enroll the target if its address really changed)"
    )


def _same(address: str, expected: str) -> bool:
    try:
        return normalise(address) == normalise(expected)
    except NotAllowed:
        return False
