"""`provision status`: per target, where a change stands (`provision apply` is in
`producers.cli.apply`; the on-call queries `history` and `failures` in `producers.cli.oncall`)."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from contracts import OutcomeStatus
from producers.cli import cli
from producers.cli.db import change_id_of, open_database
from producers.cli.oncall import refusal_row, refused_lines
from producers.cli.tables import table
from producers.records.ledger import ChangeStatus, Ledger
from producers.store import refusals

#: Statuses that make `apply --wait` and `demo` exit non-zero.
BAD = {OutcomeStatus.FAILED.value, OutcomeStatus.REJECTED.value, OutcomeStatus.NOT_READY.value}


def render(status: ChangeStatus, console: Console, *, every_target: bool = True) -> None:
    """A row per target (or only the troubled ones), then the counts per status."""
    rows = status.as_json()["targets"]
    if not every_target:
        rows = [row for row in rows if row["status"] in BAD]
    if rows:
        columns = ("target", "status", "changes", "error", "attempts", "trace id")
        cells = [_cells(row) for row in rows]
        title = f"change {status.change_id}"
        console.print(table(columns, cells, title=title, fold=True, whole=("trace id",)))
    summary = Table(title="per status", title_justify="left")
    summary.add_column("status")
    summary.add_column("targets", justify="right")
    for word, count in status.counts().items():
        if count:
            summary.add_row(word, str(count))
    console.print(summary)


def _cells(row: dict[str, Any]) -> tuple[str, ...]:
    """One target's row: its first three changed paths, its error in one line."""
    paths = [c["path"] for c in row["changes"]]
    changes = ", ".join(paths[:3]) + (f" (+{len(paths) - 3})" if len(paths) > 3 else "")
    error = f"{row['error']['type']}: {row['error']['message']}" if row["error"] else ""
    trace = row["trace_id"] or ""
    return (row["target"], row["status"], changes, error, str(row["attempts"]), trace)


@cli.command()
@click.argument("change_id")
@click.option(
    "--only",
    type=click.Choice([s.value for s in OutcomeStatus]),
    default=None,
    help="Only the targets whose current outcome has this status (counts stay whole).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def status(change_id: str, only: str | None, as_json: bool) -> None:
    """Per target: status, changes, error, attempts and trace id; and counts per status.

    CHANGE_ID is the id or a unique prefix of it (as the progress bar shows it)."""
    change_id = change_id_of(change_id)
    db = open_database()
    change = Ledger(db).status(change_id, OutcomeStatus(only) if only else None)
    with db.connection() as conn:
        refused = [refusal_row(r) for r in refusals.outcome_refusals(conn, change_id=change_id)]
    if as_json:
        extra = {"only": only} if only else {}
        click.echo(json.dumps({**change.as_json(), **extra, "refused_outcomes": refused}))
    else:
        console = Console()
        render(change, console)
        refused_lines(refused, console)
