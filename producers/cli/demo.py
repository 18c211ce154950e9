"""`provision demo`: the main job."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console

from contracts import ExitCode
from producers.access.management import ADMIN_URL_ENV
from producers.cli import cli
from producers.cli.apply import exit_code_of
from producers.cli.changes import render
from producers.cli.options import timeout_option
from producers.demo import REGIONS, default_state_dir, migrate_database, run_demo
from producers.demo_access import ADMIN_DATABASE_URL_ENV, grant_access
from producers.rollouts.direct import default_issuer


@cli.command()
@click.option(
    "--targets",
    "count",
    type=click.IntRange(1, 10_000),
    default=12,
    show_default=True,
    help="How many local targets the demo fleet has.",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the fleet lives (default PROVISION_STATE_DIR or the user state dir).",
)
@timeout_option(180.0)
@click.option(
    "--admin-url",
    default=None,
    help=f"Management API URL with an administrator's credentials, to create the demo's "
    f"role users; default ${ADMIN_URL_ENV}, else http://guest:guest@127.0.0.1:15672.",
)
@click.option(
    "--admin-database-url",
    default=None,
    help=f"PostgreSQL URL of a role that may create roles (a superuser, or CREATEROLE owning "
    f"the tables), to create the demo's login roles; default ${ADMIN_DATABASE_URL_ENV}, else "
    "PROVISION_DATABASE_URL's server and database as the local superuser postgres.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object last.")
def demo(
    count: int,
    state_dir: Path | None,
    timeout_s: float,
    admin_url: str | None,
    admin_database_url: str | None,
    as_json: bool,
) -> None:
    """Converge a demo fleet over two regions end to end, then report per status.

    Every process runs as its own role in RabbitMQ, Redis and PostgreSQL (users made as
    `provision access apply` makes them, credentials under STATE_DIR/access); the demo
    itself is the administrator that makes them (PROVISION_REDIS_URL's user is Redis's)."""
    state_dir = state_dir or default_state_dir()
    state_dir.mkdir(parents=True, exist_ok=True)
    console = Console(stderr=as_json)
    console.print(f"demo: {count} local targets under {state_dir}, regions eu and us")
    for migration in migrate_database():  # run_demo migrates too; said here, before the run
        console.print(f"database: applied {migration.version:04d}_{migration.name}")
    access = grant_access(state_dir, REGIONS, admin_url, admin_database_url)
    console.print(access.line(), markup=False, highlight=False, soft_wrap=True)
    result = run_demo(
        state_dir, count, timeout_s=timeout_s, issued_by=default_issuer(), access=access
    )
    end = result.end
    if end.status is not None:
        render(end.status, console, every_target=False)
    console.print(
        f"rollout {end.state.value if end.state else 'not started'}"
        f"{': ' + end.reason if end.reason else ''}"
    )
    for problem in result.problems:
        console.print(f"[red]child process ended early: {problem}[/red] (logs: {state_dir}/logs)")
    code = exit_code_of(end)
    counts = end.status.counts() if end.status else {}
    if code == ExitCode.OK and counts.get("changed", 0) + counts.get("converged", 0) != count:
        code = ExitCode.FAILED
    if end.status is not None:
        console.print(f"details: provision status {end.status.change_id}")
    if as_json:
        click.echo(
            json.dumps(
                {
                    "change_id": end.status.change_id if end.status else None,
                    "targets": count,
                    "counts": counts,
                    "state": end.state,
                    "finished": end.finished,
                    "state_dir": str(state_dir),
                    "access": access.users,
                }
            )
        )
    raise SystemExit(int(code))
