"""`provision db migrate|status|check`: the schema of the system of record in PostgreSQL."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from producers.cli import cli

if TYPE_CHECKING:
    from producers.store.database import Database


def open_database() -> Database:
    """The system of record for this command's run (schema checked), closed when it ends.

    Every command that reads or writes records opens it this one way, so each says the same
    thing when the database is away or behind (`run provision db migrate`). Opened once
    per command, however often asked.
    """
    from producers.store.database import Database

    context = click.get_current_context()
    opened = context.meta.get("provision.database")
    if opened is None:
        opened = Database.open(max_size=2, name="provision-cli")
        context.meta["provision.database"] = opened
        context.call_on_close(opened.close)
    return opened  # type: ignore[no-any-return]


def change_id_of(text: str) -> str:
    """The change id `text` names, whole or by a unique prefix as on-call types it (the
    progress bar's `87a7790c`); an ambiguous prefix is an error naming the ids it matches."""
    from producers.records.timeline import resolve_change_id

    return resolve_change_id(open_database(), text)


@cli.group()
def db() -> None:
    """The system of record in PostgreSQL (PROVISION_DATABASE_URL)."""


@db.command("migrate")
@click.option("--to", type=click.IntRange(min=1), help="Stop after this schema version.")
def db_migrate(to: int | None) -> None:
    """Apply every pending migration, each in its own transaction. Safe to run again."""
    from producers.store.migrate import migrate, status
    from producers.store.pool import connect

    with connect(autocommit=True) as conn:
        done = migrate(conn, to=to)
        now = status(conn)
    for migration in done:
        click.echo(f"applied {migration.version:04d}_{migration.name}")
    click.echo(f"schema at version {now.current} of {now.latest}")


@db.command("status")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def db_status(as_json: bool) -> None:
    """Show the applied and pending migrations."""
    from producers.store.migrate import status
    from producers.store.pool import connect
    from producers.store.url import database_url, redact

    with connect(autocommit=True) as conn:
        now = status(conn)
    if as_json:
        report = {
            "database": redact(database_url()),
            "version": now.current,
            "latest": now.latest,
            "applied": [
                {"version": a.version, "name": a.name, "applied_at": a.applied_at.isoformat()}
                for a in now.applied
            ],
            "pending": [{"version": m.version, "name": m.name} for m in now.pending],
        }
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"database: {redact(database_url())}")
    click.echo(f"schema at version {now.current} of {now.latest}")
    for applied in now.applied:
        click.echo(f"  applied {applied.version:04d}_{applied.name}  {applied.applied_at:%F %T%z}")
    for migration in now.pending:
        click.echo(f"  pending {migration.version:04d}_{migration.name}")
    if now.pending:
        click.echo("run `provision db migrate` to apply the pending migrations")


@db.command("check")
def db_check() -> None:
    """Exit 0 when the schema is current, else say what to run (exit 3): the start check."""
    from producers.store.migrate import require_schema

    click.echo(f"schema at version {require_schema()}")
