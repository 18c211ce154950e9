"""`provision controller`, `inventory load`, `targets` and `rollout ...`.

Each command opens the system of record for its run (`Database.open`, which checks the
schema) and closes it; `rollout` commands read and steer rollouts there and need no Redis.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import psycopg
import redis
from rich.console import Console

from broker_config import Endpoints
from broker_config.senders import Senders
from contracts import ExitCode, load_document
from contracts.command_line import metrics_options
from contracts.events import RolloutState
from contracts.inventory import Inventory
from producers.cli import cli
from producers.cli.controller_key import controller_key_option, load_controller_key
from producers.cli.db import change_id_of, open_database
from producers.cli.options import (
    parse_selector,
    selector_option,
    timeout_option,
    trusted_sender_option,
)
from producers.cli.tables import table
from producers.errors import UnknownChange
from producers.records import audit
from producers.records.inventory import InventoryStore, LoadReport
from producers.rollouts.progress import watch
from producers.rollouts.status import status_json, transitions_json
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
@metrics_options
@controller_key_option
@trusted_sender_option
def controller(
    checkin_rate: float,
    checkin_burst: int,
    metrics_port: int | None,
    metrics_host: str,
    controller_key: str | None,
    trusted: tuple[str, ...],
) -> None:
    """Drive rollouts from provision.events and answer pull agents, until stopped."""
    from producers.rollouts.controller import run_controller

    key = load_controller_key(controller_key)  # before any connection: exit 2 naming it
    if metrics_port is not None:
        from producers.metrics.registry import serve

        serve("controller", metrics_port, metrics_host)
    run_controller(
        Endpoints.from_env(),
        checkin_rate_per_s=checkin_rate,
        checkin_burst=checkin_burst,
        key=key,
        senders=Senders.from_env(trusted),
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
    db = open_database()

    def recorded(conn: psycopg.Connection, done: LoadReport) -> None:
        detail = {"file": str(file.resolve()), **done.__dict__}
        audit.record(conn, "inventory.load", str(file.resolve()), detail)

    report = InventoryStore(db).load(loaded, then=recorded)
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
    db = open_database()
    chosen = InventoryStore(db).targets(parse_selector(selector))
    if as_json:
        click.echo(json.dumps([t.model_dump(mode="json") for t in chosen]))
        return
    rows = [
        (
            t.id,
            t.region,
            t.environment,
            ",".join(f"{k}={v}" for k, v in sorted(t.labels.items())),
            ",".join(t.roles),
            t.address,
        )
        for t in chosen
    ]
    Console().print(table(("id", "region", "environment", "labels", "roles", "address"), rows))
    click.echo(f"{len(chosen)} target(s)")


@cli.group()
def rollout() -> None:
    """Follow and steer rollouts."""


def _book() -> RolloutBook:
    """The rollout book for one command. Its Redis client connects only if used (the
    commands here read and steer records, which are all in PostgreSQL)."""
    client = redis.Redis.from_url(Endpoints.from_env().redis_url, decode_responses=True)
    return RolloutBook(open_database(), client)


@rollout.command("status")
@click.argument("change_id", metavar="CHANGE_ID")
@click.option("--json", "as_json", is_flag=True)
def rollout_status(change_id: str, as_json: bool) -> None:
    """State, reason, per-wave counts and transitions of a rollout (CHANGE_ID: the id or
    a unique prefix of it)."""
    book = _book()
    change_id = change_id_of(change_id)
    status = status_json(book, change_id)
    if status["state"] is None:
        raise UnknownChange(f"no rollout {change_id!r}")
    if as_json:
        click.echo(json.dumps(status))
        return
    console = Console()
    console.print(
        f"rollout {change_id}: [bold]{status['state']}[/bold] {status['reason']}".rstrip()
    )
    waves = [
        (
            str(wave["index"]),
            str(wave["size"]),
            str(wave["max_failures"]),
            " ".join(f"{k}={v}" for k, v in wave["counts"].items() if v),
        )
        for wave in status["waves"]
    ]
    console.print(table(("wave", "targets", "max failures", "counts"), waves))
    refused = status["refused"]
    if refused:
        console.print(
            f"refused body: {refused['size']} bytes, sha256 {refused['sha256']}, "
            f"seen {refused['times']} time(s)"
        )
        console.print(refused["excerpt"], markup=False, highlight=False)


@rollout.command("history")
@click.argument("change_id", metavar="CHANGE_ID")
@click.option("--json", "as_json", is_flag=True)
def rollout_history(change_id: str, as_json: bool) -> None:
    """Every state a rollout went through: from, to, when and why."""
    book = _book()
    change_id = change_id_of(change_id)
    if book.head(change_id) is None:
        raise UnknownChange(f"no rollout {change_id!r}")
    rows = transitions_json(book, change_id)
    if as_json:
        click.echo(json.dumps(rows))
        return
    cells = [(row["at"], row["from"] or "", row["to"], row["reason"]) for row in rows]
    Console().print(table(("at", "from", "to", "reason"), cells))


@rollout.command("watch")
@click.argument("change_id", metavar="CHANGE_ID")
@timeout_option(None)
def rollout_watch(change_id: str, timeout_s: float | None) -> None:
    """Live progress bars per wave: done, failed, in flight, remaining, rate, ETA."""
    book = _book()
    change_id = change_id_of(change_id)
    state = watch(book, change_id, console=Console(), timeout_s=timeout_s)
    if state is None:
        raise UnknownChange(f"no rollout {change_id!r}")
    head = book.head(change_id)
    reason = head.reason if head is not None else ""
    click.echo(f"rollout {state.value}{': ' + reason if reason else ''}")
    raise SystemExit(int(ExitCode.OK if state == RolloutState.COMPLETED else ExitCode.FAILED))


def _steer(change_id: str, to: RolloutState, allowed: set[RolloutState], why: str) -> None:
    book = _book()
    change_id = change_id_of(change_id)
    head = book.head(change_id)
    if head is None:
        raise UnknownChange(f"no rollout {change_id!r}")
    now = head.state
    if now not in allowed:
        raise click.UsageError(f"rollout {change_id} is {now.value}; cannot {why} it")
    reason = "resumed by operator" if to == RolloutState.RUNNING else f"{to.value} by operator"
    detail = {"change_id": change_id, "from": now.value, "to": to.value, "reason": reason}

    def recorded(conn: psycopg.Connection) -> None:
        audit.record(conn, f"rollout.{why}", change_id, detail)

    if not book.set_state(change_id, to, reason, only_from={now}, then=recorded):  # it moved
        head = book.head(change_id)
        moved = head.state.value if head else "gone"
        raise click.UsageError(f"rollout {change_id} is {moved}; cannot {why} it")
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
