"""The `provision` console script: hands data-plane commands over before importing anything.

`provision worker|converge|agent ...` become `python -m workers ...` by exec, at once: the
control plane is never imported on those paths, so `provision converge` starts as fast as
the engine allows. Every other command loads the control-plane CLI.
"""

from __future__ import annotations

import os
import sys

#: Commands the data plane runs; the control plane only lists them in its help.
DATA_PLANE = frozenset({"worker", "converge", "agent"})


def main() -> None:
    """Entry point of `provision`."""
    words = [arg for arg in sys.argv[1:] if not arg.startswith("-")]
    if words and words[0] in DATA_PLANE:
        sys.stdout.flush()
        os.execv(sys.executable, [sys.executable, "-m", "workers", *sys.argv[1:]])
    from contracts.plugins import disable

    disable()  # before any model is built: see contracts.plugins
    from producers.cli import main as control_plane

    control_plane()
