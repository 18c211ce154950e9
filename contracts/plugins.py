"""No pydantic plugins, and not even pydantic's search for them.

We use no pydantic plugins. `PYDANTIC_DISABLE_PLUGINS=__all__` stops pydantic from reading
every installed package's metadata for them, but its plugin loader still imports
`importlib.metadata` (with email, zipfile, csv...) when the first model is built: about a
twentieth of a `provision converge` on 200 files, for nothing. So each command, before it
builds a model, puts a loader that finds no plugins where pydantic looks for its own, which
is what pydantic's answers when they are disabled. A process whose environment asks for
some plugins (any other value of the variable) keeps pydantic's loader.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from types import ModuleType
from typing import Any

#: The variable pydantic reads, and the value that turns every plugin off.
VARIABLE = "PYDANTIC_DISABLE_PLUGINS"
ALL = "__all__"
#: The module whose `get_plugins` pydantic calls when it builds a validator.
LOADER = "pydantic.plugin._loader"


def _no_plugins() -> Iterable[Any]:
    return ()


def disable() -> None:
    """Turn pydantic plugins off for this process and its children (unless the environment
    already chose some), and skip pydantic's search for them."""
    os.environ.setdefault(VARIABLE, ALL)
    if os.environ[VARIABLE] != ALL or LOADER in sys.modules:
        return
    loader = ModuleType(LOADER, "No pydantic plugins: see contracts.plugins.")
    vars(loader)["get_plugins"] = _no_plugins
    sys.modules[LOADER] = loader
