"""Names a package loads on first use (PEP 562), so a process pays only for what it uses.

`contracts` and `broker_config` re-export their public names this way: `provision converge`
needs a few models and the environment-file loader, not every model and the TLS stack.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib import import_module
from typing import Any


def names_from(package: str, homes: dict[str, str]) -> Callable[[str], Any]:
    """The module `__getattr__` of `package`: each public name is imported from its home
    module (`homes`: name -> module) the first time it is asked for, then kept."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(home), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
