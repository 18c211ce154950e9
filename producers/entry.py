"""The `provision` console script: hands data-plane commands over before importing anything.

`provision worker|converge|agent ...` run `python -m workers ...` in this same process, at
once: the control plane is never imported on those paths (this module imports only the
standard library), and no second interpreter starts, so `provision converge` starts as fast
as the engine allows. Every other command loads the control-plane CLI.
"""

from __future__ import annotations

import sys

#: Commands the data plane runs; the control plane only lists them in its help.
DATA_PLANE = frozenset({"worker", "converge", "agent"})


def main() -> None:
    """Entry point of `provision`."""
    words = [arg for arg in sys.argv[1:] if not arg.startswith("-")]
    if words and words[0] in DATA_PLANE:
        import runpy

        # As `python -m workers ARGS` would: argv[0] becomes the module's path, the rest stays.
        runpy.run_module("workers", run_name="__main__", alter_sys=True)
        return
    from contracts.plugins import disable

    disable()  # before any model is built: see contracts.plugins
    from producers.cli import main as control_plane

    control_plane()
