"""`provision`: the command line of the control plane.

Data-plane commands (`worker`, `converge`) are handed to `python -m workers` by exec: the
control plane never imports the data plane, and the process keeps its pid and signals.
"""

from __future__ import annotations

import logging
import os
import sys

import click

from broker_config.env_file import load_env_file
from contracts.errors import run_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Event-driven provisioning: publish changes, watch them converge, prove what happened."""
    ctx.obj = {"debug": debug}
    load_env_file()  # PROVISION_ENV_FILE: this process's role, before any URL is read
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("provision").setLevel(logging.DEBUG if debug else logging.INFO)
    # pika logs every failed connect at length; our one-line error says it better.
    logging.getLogger("pika").setLevel(logging.DEBUG if debug else logging.CRITICAL)


def _delegate(name: str, summary: str) -> None:
    @cli.command(
        name,
        help=f"{summary} (options: provision {name} --help).",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        add_help_option=False,
    )
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def run(args: tuple[str, ...]) -> None:
        sys.stdout.flush()
        os.execv(sys.executable, [sys.executable, "-m", "workers", name, *args])


_delegate("worker", "Run a regional Celery worker")
_delegate("converge", "Converge a local root directly with the engine, without a broker")
_delegate("agent", "Run the pull agent on a target: check in, converge, report")

from producers.cli import (  # noqa: E402,F401  (register commands)
    access,
    agents,
    audit,
    changes,
    controller_key,
    dashboard,
    db,
    demo,
    dlq,
    keys,
    rollouts,
    services,
    state,
    trace,
    waiver,
)


def main() -> None:
    """Entry point: known errors become one line and their exit code, unless --debug."""
    run_command(cli)
