"""`provision controller`, `inventory load`, `targets` and `rollout ...`."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from broker_config import Endpoints
from broker_config.connections import connect_redis
from contracts import ExitCode, load_document
from contracts.events import RolloutState
from contracts.inventory import Inventory
from producers.cli import cli
from producers.cli.options import parse_selector, selector_option
from producers.errors import UnknownChange
from producers.records.inventory import InventoryStore
from producers.rollouts.progress import watch
from producers.rollouts.status import status_json
from producers.rollouts.store import RolloutBook


@cli.command()
@click.option(
    "--checkin-rate",
    type=click.FloatRange(min=0, min_open=True),
    default=50.0,
    show_default=True,
    help="Pull check-ins admitted per second; beyond it agents are told to wait.",
)
@click.option(
    "--checkin-burst",
    type=click.IntRange(1),
    default=10,
    show_default=True,
    help="Check-ins admitted at once above the rate.",
)
def controller(checkin_rate: float, checkin_burst: int) -> None:
    """Drive rollouts from provision.events and answer pull agents, until stopped."""
    from producers.rollouts.controller import run_controller

    run_controller(
        Endpoints.from_env(), checkin_rate_per_s=checkin_rate, checkin_burst=checkin_burst
    )


@cli.group()
def inventory() -> None:
    """The targets the control plane knows."""


@inventory.command("load")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def inventory_load(file: Path, as_json: bool) -> None:
    """Replace the inventory with FILE (`targets:`, each with id, region, environment...)."""
    loaded = load_document(file, Inventory)
    report = InventoryStore(connect_redis(Endpoints.from_env())).load(loaded)
    if as_json:
        click.echo(json.dumps(report.__dict__))
    else:
        click.echo(
            f"inventory: {report.total} targets ({report.added} added, "
            f"{report.updated} updated, {report.removed} removed)"
        )


@cli.command()
@selector_option
@click.option("--json", "as_json", is_flag=True)
def targets(selector: tuple[str, ...], as_json: bool) -> None:
    """List the inventory's targets that the selector picks."""
    chosen = InventoryStore(connect_redis(Endpoints.from_env())).targets(parse_selector(selector))
    if as_json:
        click.echo(json.dumps([t.model_dump(mode="json") for t in chosen]))
        return
    table = Table()
    for column in ("id", "region", "environment", "labels", "roles", "address"):
        table.add_column(column)
    for t in chosen:
        table.add_row(
            t.id,
            t.region,
            t.environment,
            ",".join(f"{k}={v}" for k, v in sorted(t.labels.items())),
            ",".join(t.roles),
            t.address,
        )
    Console().print(table)
    click.echo(f"{len(chosen)} target(s)")


@cli.group()
def rollout() -> None:
    """Follow and steer rollouts."""


def _book() -> RolloutBook:
    return RolloutBook(connect_redis(Endpoints.from_env()))


@rollout.command("status")
@click.argument("change_id", metavar="CHANGE_ID")
@click.option("--json", "as_json", is_flag=True)
def rollout_status(change_id: str, as_json: bool) -> None:
    """State, reason and per-wave counts of a rollout."""
    status = status_json(_book(), change_id)
    if status["state"] is None:
        raise UnknownChange(f"no rollout {change_id!r}")
    if as_json:
        click.echo(json.dumps(status))
        return
    console = Console()
    console.print(
        f"rollout {change_id}: [bold]{status['state']}[/bold] {status['reason']}".rstrip()
    )
    table = Table()
    for column in ("wave", "targets", "max failures", "counts"):
        table.add_column(column)
    for wave in status["waves"]:
        counts = " ".join(f"{k}={v}" for k, v in wave["counts"].items() if v)
        table.add_row(str(wave["index"]), str(wave["size"]), str(wave["max_failures"]), counts)
    console.print(table)


@rollout.command("watch")
@click.argument("change_id", metavar="CHANGE_ID")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0, min_open=True), default=None)
def rollout_watch(change_id: str, timeout_s: float | None) -> None:
    """Live progress bars per wave: done, failed, in flight, remaining, rate, ETA."""
    book = _book()
    state = watch(book, change_id, console=Console(), timeout_s=timeout_s)
    if state is None:
        raise UnknownChange(f"no rollout {change_id!r}")
    reason = book.meta(change_id).get("reason", "")
    click.echo(f"rollout {state.value}{': ' + reason if reason else ''}")
    raise SystemExit(int(ExitCode.OK if state == RolloutState.COMPLETED else ExitCode.FAILED))


def _steer(change_id: str, to: RolloutState, allowed: set[RolloutState], why: str) -> None:
    book = _book()
    meta = book.meta(change_id)
    if not meta.get("state"):
        raise UnknownChange(f"no rollout {change_id!r}")
    now = RolloutState(meta["state"])
    if now not in allowed:
        raise click.UsageError(f"rollout {change_id} is {now.value}; cannot {why} it")
    book.set_state(change_id, to, "" if to == RolloutState.RUNNING else f"{to.value} by operator")
    click.echo(f"rollout {change_id}: {now.value} -> {to.value}")


@rollout.command("pause")
@click.argument("change_id", metavar="CHANGE_ID")
def rollout_pause(change_id: str) -> None:
    """Publish nothing more until resumed; requests in flight finish."""
    _steer(change_id, RolloutState.PAUSED, {RolloutState.RUNNING, RolloutState.PLANNED}, "pause")


@rollout.command("resume")
@click.argument("change_id", metavar="CHANGE_ID")
def rollout_resume(change_id: str) -> None:
    """Carry on from where the rollout was paused."""
    _steer(change_id, RolloutState.RUNNING, {RolloutState.PAUSED}, "resume")


@rollout.command("abort")
@click.argument("change_id", metavar="CHANGE_ID")
def rollout_abort(change_id: str) -> None:
    """Stop for good: nothing more is published; requests in flight finish."""
    _steer(
        change_id,
        RolloutState.ABORTED,
        {RolloutState.RUNNING, RolloutState.PAUSED, RolloutState.PLANNED, RolloutState.HALTED},
        "abort",
    )
