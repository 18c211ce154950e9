"""Data-plane commands: `worker`, `converge` and `agent`.

`provision worker ...` and `provision converge ...` exec `python -m workers ...`, so the
control plane never imports this package.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from broker_config.env_file import load_env_file
from contracts.command_line import DIRECTORY, SECONDS, metrics_options
from contracts.errors import ContractError, run_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """provision data plane."""
    ctx.obj = {"debug": debug}
    # PROVISION_ENV_FILE: this process's role, before any URL is read (the Celery app,
    # workers.delivery.app, reads its broker URL when imported: later, by the command).
    load_env_file()


@cli.command()
@click.argument("root", type=DIRECTORY)
@click.argument("state_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object last.")
@click.option(
    "--no-witness",
    is_flag=True,
    help="Run the engine even if nothing changed since ROOT was last found converged, "
    "and keep no witness of this run.",
)
def converge(root: Path, state_file: Path, dry_run: bool, as_json: bool, no_witness: bool) -> None:
    """Converge the local directory ROOT to STATE_FILE with the engine, without a broker.

    A rerun of the same STATE_FILE on a ROOT whose files are as the last converged run
    left them is answered from that run's witness, without starting the engine.
    """
    from workers.standalone import run

    sys.exit(run(root, state_file, dry_run=dry_run, as_json=as_json, witness=not no_witness))


@cli.command()
@click.option("--region", required=True, help="The region whose queue this worker consumes.")
@click.option("--concurrency", "-c", type=click.IntRange(1, 256), default=2, show_default=True)
@click.option("--rate-limit", default=None, help="Per-worker task rate, e.g. 50/s.")
@click.option(
    "--pool",
    default="prefork",
    show_default=True,
    type=click.Choice(["prefork", "threads", "solo"]),
)
@click.option(
    "--max-tasks-per-child",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Replace a pool process after it has run N requests (prefork). Default: never.",
)
@click.option(
    "--max-memory-per-child",
    type=click.IntRange(min=1024),
    default=None,
    metavar="KIB",
    help="Replace a pool process, after its request, once its resident memory passes KIB "
    "kibibytes (prefork). Default: never.",
)
@click.option("--name", default=None, help="Worker node name (default <region>-<pid>@<host>).")
@click.option("--loglevel", default="INFO", show_default=True)
@click.option(
    "--allow",
    "allow",
    multiple=True,
    metavar="PATTERN",
    help="A target address this worker may converge, e.g. 'local:///srv/*' (`*` within one "
    "path segment, `**` across them). Repeatable; added to PROVISION_WORKER_ALLOW "
    "(comma-separated). Required: any other address is rejected, local:/// included.",
)
@metrics_options
@click.option(
    "--controller-public-key",
    "controller_public_key",
    default=None,
    metavar="PATH",
    help="The controller's public key (PEM): only change requests it signed are applied. "
    "Default $PROVISION_CONTROLLER_PUBLIC_KEY. Required.",
)
def worker(allow: tuple[str, ...], controller_public_key: str | None, **options: Any) -> None:
    """Consume region REGION's change queue and converge its targets."""
    from workers.delivery import controller_key
    from workers.delivery.runner import run_worker

    rule = allow_rule(allow)
    key = controller_key.read(controller_public_key)
    run_worker(allow=rule, controller_key=key, **options)  # the rest: its keywords, one for one


def allow_rule(flags: tuple[str, ...]) -> Any:
    """--allow and PROVISION_WORKER_ALLOW together. Fails closed: with neither, the worker
    does not start (one line naming the flag, exit 2) rather than serve every address."""
    from workers.engine.hosts.allow import ALLOW_ENV, AllowRule

    try:
        rule = AllowRule.parse(
            [*AllowRule.from_env_value(os.environ.get(ALLOW_ENV)).patterns, *flags]
        )
    except ValueError as exc:
        raise ContractError("provision worker", [("--allow", str(exc))]) from None
    if not rule:
        reason = (
            f"no allow rule: pass --allow PATTERN (e.g. --allow 'local:///srv/*') or set "
            f"{ALLOW_ENV}; a worker converges only the target addresses it allows"
        )
        raise ContractError("provision worker", [("--allow", reason)])
    return rule


@cli.command()
@click.option("--target", "target", required=True, help="The target this agent runs on.")
@click.option(
    "--credentials",
    "credentials",
    required=True,
    type=DIRECTORY,
    help="The directory `provision enroll --out` wrote; the agent keeps its state there too.",
)
@click.option(
    "--root",
    type=DIRECTORY,
    default=None,
    help="Converge this directory as /. Default: the local:// address the target was "
    "enrolled with, else /. A check-in reply naming another address is refused.",
)
@click.option("--once", is_flag=True, help="One check-in, then exit 0 (success) or 1.")
@click.option(
    "--interval",
    "interval_s",
    type=SECONDS,
    default=1800.0,
    show_default=True,
    help="Seconds between check-ins.",
)
@click.option(
    "--splay",
    "splay_s",
    type=click.FloatRange(min=0),
    default=None,
    help="Random delay before each check-in, up to this many seconds. "
    "Default: interval/10, and 0 with --once.",
)
@click.option("--report-only", is_flag=True, help="Dry run: report drift, change nothing.")
def agent(credentials: Path, **options: Any) -> None:
    """Pull mode: check in, converge this target with the engine, report; every --interval."""
    from workers.pull.agent import run_agent

    sys.exit(run_agent(credentials, **options))  # the other options are its keywords


def main() -> None:
    """Entry point: known errors become one line and their exit code, unless --debug."""
    run_command(cli)
