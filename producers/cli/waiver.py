"""`provision waiver add|list|remove`: waivers are part of the truth, so each one publishes.

A waiver allows one deviation (selector + resource) until it expires; adding or removing one
publishes a new revision of the source of truth, like `state publish`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import psycopg
from pydantic import ValidationError
from rich.console import Console

from contracts import ContractError
from contracts.command_line import DIRECTORY
from contracts.truth import Waiver
from producers.cli import cli
from producers.cli.controller_key import controller_key_option
from producers.cli.options import parse_selector, selector_option
from producers.cli.state import _base, _commit, _print_json, _store
from producers.cli.tables import table
from producers.records import audit
from producers.truth import waivers
from producers.truth.revisions import Published


@cli.group()
def waiver() -> None:
    """Waivers: managed deviations with an owner and an expiry. Each edit is a revision."""


_dir_option = click.option(
    "--dir",
    "directory",
    type=DIRECTORY,
    default=None,
    help="Source directory to rewrite waivers.yaml in (must equal the latest revision).",
)


@waiver.command("add")
@selector_option
@click.option("--resource", required=True, help="Path of the covered resource.")
@click.option("--owner", required=True, help="Who answers for the deviation.")
@click.option("--reason", required=True, help="Why the deviation is allowed.")
@click.option("--expires-at", required=True, help="ISO 8601 with a timezone, e.g. ...Z.")
@click.option("--replace", is_flag=True, help="Replace a waiver with this selector+resource.")
@_dir_option
@click.option("-m", "--message", default=None, help="Revision message (default: generated).")
@click.option("--author", default=None, help="Who publishes (default user@host).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@controller_key_option
def waiver_add(
    selector: tuple[str, ...],
    resource: str,
    owner: str,
    reason: str,
    expires_at: str,
    replace: bool,
    directory: Path | None,
    message: str | None,
    author: str | None,
    as_json: bool,
    controller_key: str | None,
) -> None:
    """Add a waiver and publish the result as a new revision."""
    try:
        new = Waiver.model_validate(
            {
                "selector": parse_selector(selector),
                "resource": resource,
                "owner": owner,
                "reason": reason,
                "expires_at": expires_at,
            }
        )
    except ValidationError as exc:
        raise ContractError.from_validation("waiver add", exc) from exc
    store = _store(signing=True, controller_key=controller_key)
    base = _base(store, directory)
    bundle = waivers.add(base, new, now=datetime.now(UTC), replace=replace)
    message = message or (
        f"waiver {'replace' if replace else 'add'} {new.id}: {new.resource} "
        f"for {new.selector.describe()} (owner {new.owner}, until {new.expires_at:%Y-%m-%d})"
    )
    replaced = next((w for w in base.waivers if w.id == new.id), None)

    def recorded(conn: psycopg.Connection, done: Published, before: int) -> None:
        detail = {
            "waiver": _shown(new),
            "before": _shown(replaced) if replaced else None,
            "revision": done.revision.number,
            "previous": before or None,
        }
        audit.record(conn, "waiver.add", new.id, detail)

    _commit(store, bundle, directory, author, message, as_json, recorded)


@waiver.command("remove")
@click.argument("waiver_id")
@_dir_option
@click.option("-m", "--message", default=None, help="Revision message (default: generated).")
@click.option("--author", default=None, help="Who publishes (default user@host).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@controller_key_option
def waiver_remove(
    waiver_id: str,
    directory: Path | None,
    message: str | None,
    author: str | None,
    as_json: bool,
    controller_key: str | None,
) -> None:
    """Remove waiver WAIVER_ID (see `provision waiver list`) as a new revision."""
    store = _store(signing=True, controller_key=controller_key)
    bundle, gone = waivers.remove(_base(store, directory), waiver_id)
    message = message or f"waiver remove {gone.id}: {gone.resource} for {gone.selector.describe()}"

    def recorded(conn: psycopg.Connection, done: Published, before: int) -> None:
        detail = {
            "waiver": None,
            "before": _shown(gone),
            "revision": done.revision.number,
            "previous": before or None,
        }
        audit.record(conn, "waiver.remove", gone.id, detail)

    _commit(store, bundle, directory, author, message, as_json, recorded)


def _shown(w: Waiver) -> dict[str, Any]:
    """A waiver as a reviewer reads it in the audit trail: id, selector, resource, owner,
    reason and expiry."""
    return {"id": w.id, **w.model_dump(mode="json", exclude_defaults=True)}


@waiver.command("list")
@click.option("--rev", default=None, help="Revision number or 'latest' (default).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array.")
def waiver_list(rev: str | None, as_json: bool) -> None:
    """The waivers of a revision, with their status (active or expired) and targets."""
    store = _store()
    number = store.resolve(rev)
    bundle = store.bundle(number)
    now = datetime.now(UTC)
    rows = []
    for w in bundle.waivers:
        chosen = [t.id for t in bundle.inventory.targets if w.applies_to(t)]
        rows.append(
            {
                "id": w.id,
                **w.model_dump(mode="json", exclude_defaults=True),
                "status": "expired" if w.expired(now) else "active",
                "targets": chosen,
            }
        )
    if as_json:
        _print_json(rows)
        return
    cells = [
        (
            w.id,
            w.selector.describe(),
            w.resource,
            w.owner,
            w.expires_at.isoformat(timespec="seconds"),
            row["status"],
            w.reason,
        )
        for w, row in zip(bundle.waivers, rows, strict=True)
    ]
    columns = ("id", "selector", "resource", "owner", "expires", "status", "reason")
    Console().print(table(columns, cells, title=f"waivers at revision {number}", fold=True))
