"""`provision dlq`: list, show, replay and purge the dead letters in provision.dead."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from broker_config import Endpoints
from broker_config.connections import connect_broker
from contracts import ExitCode
from producers.cli import cli
from producers.messaging.dlq import DeadLetter, DeadLetters


def _open() -> tuple[object, DeadLetters]:
    connection = connect_broker(Endpoints.from_env())
    return connection, DeadLetters(connection)


def _chosen(letter_id: str | None, every: bool) -> list[str] | None:
    if every == (letter_id is not None):
        raise click.UsageError("give exactly one of ID or --all")
    return None if every else [str(letter_id)]


@cli.group()
def dlq() -> None:
    """Dead letters: what could not be processed, why, and replaying it."""


@dlq.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def dlq_list(as_json: bool) -> None:
    """Every dead letter: id, reason, source, attempts, trace id."""
    connection, letters = _open()
    try:
        rows = [letter.as_json() for letter in letters.entries()]
    finally:
        connection.close()  # type: ignore[attr-defined]
    if as_json:
        click.echo(json.dumps({"count": len(rows), "dead_letters": rows}))
        return
    table = Table(title=f"provision.dead: {len(rows)} message(s)", title_justify="left")
    for column in ("id", "reason", "source", "attempts", "trace id", "dead at"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row["id"],
            row["reason"][:200],
            row["source"],
            "" if row["attempts"] is None else str(row["attempts"]),
            (row["trace_id"] or "")[:16],
            row["dead_at"] or "",
        )
    Console().print(table)


@dlq.command("show")
@click.argument("letter_id", metavar="ID")
def dlq_show(letter_id: str) -> None:
    """The dead letter ID in full: reason, headers and the original body (JSON)."""
    connection, letters = _open()
    try:
        found = letters.find(letter_id)
    finally:
        connection.close()  # type: ignore[attr-defined]
    if not found:
        click.echo(f"error: no dead letter {letter_id!r}", err=True)
        raise SystemExit(int(ExitCode.INPUT))
    for letter in found:
        click.echo(json.dumps(letter.as_json(with_body=True), indent=2))


def _summary(verb: str, done: list[DeadLetter], dry_run: bool = False) -> None:
    said = f"would {verb}" if dry_run else f"{verb}d"
    click.echo(f"{said} {len(done)} dead letter(s)")
    for letter in done:
        click.echo(f"  {letter.id}  {letter.reason[:120]}")


@dlq.command("replay")
@click.argument("letter_id", metavar="ID", required=False)
@click.option("--all", "every", is_flag=True, help="Replay every dead letter.")
@click.option("--dry-run", is_flag=True, help="Say what would be replayed; change nothing.")
def dlq_replay(letter_id: str | None, every: bool, dry_run: bool) -> None:
    """Republish the original of ID (or of --all) to where it was first sent."""
    ids = _chosen(letter_id, every)
    connection, letters = _open()
    try:
        done = letters.replay(ids, dry_run=dry_run)
    finally:
        connection.close()  # type: ignore[attr-defined]
    _summary("replay", done, dry_run)
    if ids is not None and not done:
        click.echo(f"error: no replayable dead letter {letter_id!r}", err=True)
        raise SystemExit(int(ExitCode.INPUT))


@dlq.command("purge")
@click.argument("letter_id", metavar="ID", required=False)
@click.option("--all", "every", is_flag=True, help="Delete every dead letter.")
@click.option("--yes", is_flag=True, help="Do not ask before deleting.")
def dlq_purge(letter_id: str | None, every: bool, yes: bool) -> None:
    """Delete the dead letter ID (or --all), after asking unless --yes."""
    ids = _chosen(letter_id, every)
    what = "every dead letter" if ids is None else f"dead letter {letter_id}"
    if not yes:
        click.confirm(f"delete {what} for good?", abort=True)
    connection, letters = _open()
    try:
        done = letters.purge(ids)
    finally:
        connection.close()  # type: ignore[attr-defined]
    _summary("purge", done)
    if ids is not None and not done:
        click.echo(f"error: no dead letter {letter_id!r}", err=True)
        raise SystemExit(int(ExitCode.INPUT))
