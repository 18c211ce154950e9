"""`provision history` and `provision failures`: the on-call engineer's queries, in SQL.

Both read outcomes as the aggregator stored them (`producers.store.outcomes`),
with what the system observed (the request sequence, the receive time) beside what the
sender said (`finished_at`, shown, never used to order).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from rich.console import Console

from producers.cli import cli
from producers.cli.db import open_database
from producers.cli.tables import table
from producers.store import outcomes, refusals
from producers.store.outcomes import Stored
from producers.store.refusals import RefusalRow

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_window(text: str) -> timedelta:
    """`90s`, `15m`, `1h`, `2d`, `1w` (a bare number is seconds); a usage error otherwise."""
    match = _DURATION.match(text.lower())
    if match is None or float(match.group(1)) <= 0:
        raise click.BadParameter(
            f"{text!r} is not a duration like 30m, 1h or 2d", param_hint="--since"
        )
    return timedelta(seconds=float(match.group(1)) * _UNIT_S[match.group(2)])


def outcome_row(stored: Stored) -> dict[str, Any]:
    """One stored outcome as a JSON object."""
    e = stored.event
    return {
        "target": e.target,
        "change_id": e.change_id,
        "outcome_id": e.outcome_id,
        "status": e.status.value,
        "sequence": stored.sequence,
        "received_at": stored.received_at.astimezone(UTC).isoformat(),
        "finished_at": e.finished_at.isoformat(),
        "revision": e.revision,
        "delivery": e.delivery,
        "dry_run": e.dry_run,
        "drift": e.drift,
        "attempts": e.attempts,
        "worker": e.worker,
        "trace_id": e.trace_id,
        "changes": [c.model_dump(mode="json", exclude_none=True) for c in e.changes],
        "error": e.error.model_dump(mode="json") if e.error else None,
    }


def refusal_row(row: RefusalRow) -> dict[str, Any]:
    """A refused outcome as JSON: when, the target it claimed, and the reason."""
    return {"at": row.at.astimezone(UTC).isoformat(), "target": row.target, "reason": row.reason}


def refused_lines(rows: list[dict[str, Any]], console: Console) -> None:
    """One line per refused outcome (hostile text: printed as it is, never as markup)."""
    for row in rows:
        line = f"refused: {row['at'][:19]} target {row['target']}: {row['reason']}"
        console.print(line, markup=False, highlight=False)


def _error(row: dict[str, Any]) -> str:
    return f"{row['error']['type']}: {row['error']['message']}" if row["error"] else ""


def history_table(target: str, rows: list[dict[str, Any]], console: Console) -> None:
    """`provision history`: newest first, as the system ordered them."""
    if not rows:
        click.echo(f"no outcome of {target} is recorded")
        return
    cells = [
        (
            row["received_at"][:19],
            row["change_id"],
            row["status"],
            "-" if row["sequence"] is None else str(row["sequence"]),
            "-" if row["revision"] is None else str(row["revision"]),
            str(row["attempts"]),
            _error(row),
        )
        for row in rows
    ]
    columns = ("received", "change", "status", "sequence", "revision", "attempts", "error")
    console.print(table(columns, cells, title=f"target {target}, newest first", fold=True))


def failures_table(rows: list[dict[str, Any]], window: str, console: Console) -> None:
    """`provision failures`: each target's latest failure in the window, and where it is now."""
    if not rows:
        click.echo(f"no failure received in the last {window}")
        return
    cells = [
        (
            row["target"],
            row["status"],
            row["change_id"],
            row["received_at"][:19],
            _error(row),
            row["current"] or "-",
        )
        for row in rows
    ]
    columns = ("target", "status", "change", "received", "error", "now")
    title = f"failures received in the last {window}"
    console.print(table(columns, cells, title=title, fold=True))


@cli.command()
@click.argument("target")
@click.option(
    "--limit", type=click.IntRange(min=1), default=20, show_default=True, help="At most N."
)
@click.option("--json", "as_json", is_flag=True, help="Print {target, outcomes: [...]}.")
def history(target: str, limit: int, as_json: bool) -> None:
    """TARGET's outcomes across every change, newest first (by request sequence, then
    the time they were received; never the sender's clock)."""
    with open_database().connection() as conn:
        rows = [outcome_row(s) for s in outcomes.history(conn, target, limit)]
    if as_json:
        click.echo(json.dumps({"target": target, "outcomes": rows}))
    else:
        history_table(target, rows, Console())


@cli.command()
@click.option(
    "--since",
    "window",
    default="1h",
    show_default=True,
    metavar="DURATION",
    help="How far back, by receive time: 30m, 1h, 2d...",
)
@click.option("--json", "as_json", is_flag=True, help="Print {since, targets: [...]}.")
def failures(window: str, as_json: bool) -> None:
    """Targets with a failed, rejected or not_ready outcome received within --since:
    each one's latest failure, and its current status ("now"); then the outcomes refused
    in that time because their sender may not speak for their target."""
    span = parse_window(window)
    at = datetime.now(UTC)
    since = at - span
    with open_database().connection() as conn:
        found = outcomes.failed_since(conn, span, now=at)
        now = outcomes.current_statuses(conn, [s.event.target for s in found])
        refused = [refusal_row(r) for r in refusals.outcome_refusals(conn, since=since)]
    rows = [{**outcome_row(s), "current": now.get(s.event.target)} for s in found]
    if as_json:
        click.echo(
            json.dumps({"since": since.isoformat(), "targets": rows, "refused_outcomes": refused})
        )
    else:
        console = Console()
        failures_table(rows, window, console)
        refused_lines(refused, console)
