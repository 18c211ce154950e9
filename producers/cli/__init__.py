"""`provision`: the command line of the control plane.

Data-plane commands (`worker`, `converge`) are handed to `python -m workers` by exec: the
control plane never imports the data plane, and the process keeps its pid and signals.

Each command's module is imported when that command runs, not before: `provision status`
should not pay for psycopg's, redis-py's and OpenTelemetry's imports of every other command
(half a second, every time an operator types). `provision --help` still loads them all, to
print their summaries.
"""

from __future__ import annotations

import logging
import os
import sys
from importlib import import_module

import click

from broker_config.env_file import load_env_file
from contracts.errors import run_command

#: Each command of `provision` → the module that defines it (and registers it on `cli` when
#: imported). tests/producers/cli/test_commands.py checks that this map is complete.
COMMANDS = {
    "access": "producers.cli.access",
    "aggregator": "producers.cli.services",
    "apply": "producers.cli.apply",
    "audit": "producers.cli.audit",
    "broker": "producers.cli.services",
    "compliance": "producers.cli.agents",
    "controller": "producers.cli.rollouts",
    "controller-key": "producers.cli.controller_key",
    "dashboard": "producers.cli.dashboard",
    "db": "producers.cli.db",
    "demo": "producers.cli.demo",
    "dlq": "producers.cli.dlq",
    "enroll": "producers.cli.agents",
    "failures": "producers.cli.oncall",
    "history": "producers.cli.oncall",
    "inventory": "producers.cli.rollouts",
    "keys": "producers.cli.keys",
    "rollout": "producers.cli.rollouts",
    "schema": "producers.cli.services",
    "state": "producers.cli.state",
    "status": "producers.cli.changes",
    "targets": "producers.cli.rollouts",
    "trace": "producers.cli.trace",
    "waiver": "producers.cli.waiver",
}


class CommandGroup(click.Group):
    """A group whose commands are imported on first use, from `COMMANDS`."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            import_module(COMMANDS[cmd_name])  # registers the command on `cli`
        return super().get_command(ctx, cmd_name)


@click.group(cls=CommandGroup, context_settings={"help_option_names": ["-h", "--help"]})
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


def main() -> None:
    """Entry point: known errors become one line and their exit code, unless --debug."""
    run_command(cli)
