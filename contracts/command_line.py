"""Parameter types that both planes' command lines use, so a flag means the same on each.

`provision ...` (producers) and `python -m workers ...` (which `provision worker`, `agent`
and `converge` exec) are one command line to the user; `run_command` in contracts.errors
runs both. Like it, this module is the planes' shared vocabulary, not a wire model.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

#: A directory (or where one will be made), given to the command as a Path.
DIRECTORY = click.Path(file_okay=False, path_type=Path)
#: A duration in seconds, more than zero.
SECONDS = click.FloatRange(min=0, min_open=True)

#: Where a process serves its Prometheus metrics: off unless a port is given.
METRICS_PORT_ENV = "PROVISION_METRICS_PORT"
METRICS_HOST_ENV = "PROVISION_METRICS_HOST"
#: Loopback by default: the metrics name regions and queues, which are not for everyone.
METRICS_HOST = "127.0.0.1"


def metrics_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """`--metrics-port PORT` and `--metrics-host HOST` (into `metrics_port`, `metrics_host`),
    the same on the controller, the aggregator and the worker."""
    function = click.option(
        "--metrics-host",
        envvar=METRICS_HOST_ENV,
        default=METRICS_HOST,
        show_default=True,
        help=f"The address the metrics endpoint binds. Also {METRICS_HOST_ENV}.",
    )(function)
    return click.option(
        "--metrics-port",
        envvar=METRICS_PORT_ENV,
        type=click.IntRange(1, 65535),
        default=None,
        help="Serve Prometheus metrics on http://HOST:PORT/metrics. Also "
        f"{METRICS_PORT_ENV}; off when neither is set.",
    )(function)
