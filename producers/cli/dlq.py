"""`provision dlq`: list, show, replay and purge the dead letters in provision.dead."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console

from broker_config import Endpoints
from broker_config.connections import connect_broker
from contracts import ExitCode
from producers.cli import cli
from producers.cli.db import open_database
from producers.cli.tables import table
from producers.messaging.dlq import DeadLetter, DeadLetters
from producers.records import audit

F = TypeVar("F", bound=Callable[..., None])


@contextmanager
def _dead_letters() -> Iterator[DeadLetters]:
    """provision.dead over a connection of its own, closed when the command is done with it."""
    connection = connect_broker(Endpoints.from_env())
    try:
        yield DeadLetters(connection)
    finally:
        connection.close()


def _id_or_all(every: str) -> Callable[[F], F]:
    """The argument ID and the flag --all (`every` says what it does); `_chosen` reads them."""

    def add(command: F) -> F:
        command = click.option("--all", "every", is_flag=True, help=every)(command)
        return click.argument("letter_id", metavar="ID", required=False)(command)

    return add


def _chosen(letter_id: str | None, every: bool) -> list[str] | None:
    if every == (letter_id is not None):
        raise click.UsageError("give exactly one of ID or --all")
    return None if every else [str(letter_id)]


def _not_found(what: str) -> NoReturn:
    click.echo(f"error: no {what}", err=True)
    raise SystemExit(int(ExitCode.INPUT))


@cli.group()
def dlq() -> None:
    """Dead letters: what could not be processed, why, and replaying it."""


@dlq.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def dlq_list(as_json: bool) -> None:
    """Every dead letter: id, reason, source, attempts, trace id."""
    with _dead_letters() as letters:
        rows = [letter.as_json() for letter in letters.entries()]
    if as_json:
        click.echo(json.dumps({"count": len(rows), "dead_letters": rows}))
        return
    cells = [
        (
            row["id"],
            row["reason"][:200],
            row["source"],
            "" if row["attempts"] is None else str(row["attempts"]),
            (row["trace_id"] or "")[:16],
            row["dead_at"] or "",
        )
        for row in rows
    ]
    columns = ("id", "reason", "source", "attempts", "trace id", "dead at")
    title = f"provision.dead: {len(rows)} message(s)"
    Console().print(table(columns, cells, title=title, fold=True))


@dlq.command("show")
@click.argument("letter_id", metavar="ID")
def dlq_show(letter_id: str) -> None:
    """The dead letter ID in full: reason, headers and the original body (JSON)."""
    with _dead_letters() as letters:
        found = letters.find(letter_id)
    if not found:
        _not_found(f"dead letter {letter_id!r}")
    for letter in found:
        click.echo(json.dumps(letter.as_json(with_body=True), indent=2))


def _detail(letters: list[DeadLetter]) -> dict[str, Any]:
    """What the audit trail keeps of a replay or purge: how many, their ids, the changes
    they belonged to and why they had died (never their bodies)."""
    changes = sorted({c for c in (letter.change[0] for letter in letters) if c})
    reasons = sorted({letter.reason[:200] for letter in letters})
    return {
        **audit.listed([letter.id for letter in letters]),
        "change_ids": changes[: audit.IDS_LISTED],
        "reasons": reasons[:20],
    }


def _summary(verb: str, done: list[DeadLetter], dry_run: bool = False) -> None:
    said = f"would {verb}" if dry_run else f"{verb}d"
    click.echo(f"{said} {len(done)} dead letter(s)")
    for letter in done:
        click.echo(f"  {letter.id}  {letter.reason[:120]}")


@dlq.command("replay")
@_id_or_all("Replay every dead letter.")
@click.option("--dry-run", is_flag=True, help="Say what would be replayed; change nothing.")
def dlq_replay(letter_id: str | None, every: bool, dry_run: bool) -> None:
    """Republish the original of ID (or of --all) to where it was first sent."""
    ids = _chosen(letter_id, every)
    db, who = (None, "") if dry_run else (open_database(), audit.actor())
    replayed: list[DeadLetter] = []
    try:
        with _dead_letters() as letters:
            done = letters.replay(ids, dry_run=dry_run, replayed=replayed)
    finally:  # also a replay the broker stopped half-way: what it did is recorded
        if db is not None and replayed:
            audit.record_after(db, "dlq.replay", letter_id or "all", _detail(replayed), who=who)
    _summary("replay", done, dry_run)
    if ids is not None and not done:
        _not_found(f"replayable dead letter {letter_id!r}")


@dlq.command("purge")
@_id_or_all("Delete every dead letter.")
@click.option("--yes", is_flag=True, help="Do not ask before deleting.")
def dlq_purge(letter_id: str | None, every: bool, yes: bool) -> None:
    """Delete the dead letter ID (or --all), after asking unless --yes."""
    ids = _chosen(letter_id, every)
    what = "every dead letter" if ids is None else f"dead letter {letter_id}"
    if not yes:
        click.confirm(f"delete {what} for good?", abort=True)
    db, who = open_database(), audit.actor()
    with _dead_letters() as letters:
        done = letters.purge(ids)
    if done:
        audit.record_after(db, "dlq.purge", letter_id or "all", _detail(done), who=who)
    _summary("purge", done)
    if ids is not None and not done:
        _not_found(f"dead letter {letter_id!r}")
