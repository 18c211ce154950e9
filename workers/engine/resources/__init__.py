"""Resource types, by the `kind` of spec they converge.

Adding a kind means one spec model in `contracts/resources.py`, one module here and one
line in `RESOURCES`.
"""

from __future__ import annotations

from workers.engine.resources.absent import Absent
from workers.engine.resources.base import Action, Context, ResourceError, ResourceType, SpecError
from workers.engine.resources.commands import Commands
from workers.engine.resources.directories import Directories
from workers.engine.resources.files import Files
from workers.engine.resources.lines import Lines
from workers.engine.resources.links import Links

#: Every resource type the engine knows. One line per kind.
RESOURCES: dict[str, ResourceType] = {
    "file": Files(),
    "directory": Directories(),
    "symlink": Links(),
    "absent": Absent(),
    "line": Lines(),
    "command": Commands(),
}

__all__ = ["RESOURCES", "Action", "Context", "ResourceError", "ResourceType", "SpecError"]
