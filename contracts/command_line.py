"""Parameter types that both planes' command lines use, so a flag means the same on each.

`provision ...` (producers) and `python -m workers ...` (which `provision worker`, `agent`
and `converge` exec) are one command line to the user; `run_command` in contracts.errors
runs both. Like it, this module is the planes' shared vocabulary, not a wire model.
"""

from __future__ import annotations

from pathlib import Path

import click

#: A directory (or where one will be made), given to the command as a Path.
DIRECTORY = click.Path(file_okay=False, path_type=Path)
#: A duration in seconds, more than zero.
SECONDS = click.FloatRange(min=0, min_open=True)
