"""Resource types, by the `kind` of spec they converge.

Adding a kind means one spec model in `contracts/resources.py`, one module here and one
line in `KINDS`. A kind's module is imported when a state first uses it, so a state of
files does not pay at every start for the other kinds' modules.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from importlib import import_module

from workers.engine.resources.base import Action, Context, ResourceError, ResourceType, SpecError

#: Every resource type the engine knows: kind -> (module here, class). One line per kind.
KINDS: dict[str, tuple[str, str]] = {
    "file": ("files", "Files"),
    "directory": ("directories", "Directories"),
    "symlink": ("links", "Links"),
    "absent": ("absent", "Absent"),
    "line": ("lines", "Lines"),
    "command": ("commands", "Commands"),
}


class _Registry(Mapping[str, ResourceType]):
    """kind -> its resource type, made on first use (a KeyError for an unknown kind)."""

    def __init__(self) -> None:
        self._made: dict[str, ResourceType] = {}

    def __getitem__(self, kind: str) -> ResourceType:
        made = self._made.get(kind)
        if made is None:
            module, name = KINDS[kind]
            made = getattr(import_module(f"{__name__}.{module}"), name)()
            self._made[kind] = made
        return made

    def __iter__(self) -> Iterator[str]:
        return iter(KINDS)

    def __len__(self) -> int:
        return len(KINDS)


#: Every resource type the engine knows, by kind.
RESOURCES: Mapping[str, ResourceType] = _Registry()

__all__ = ["KINDS", "RESOURCES", "Action", "Context", "ResourceError", "ResourceType", "SpecError"]
