"""`provision trace CHANGE_ID`: what happened to a change, and why a target failed, in one
screen, from the system's own records (no tracing backend needed)."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from producers.cli import cli
from producers.cli.db import change_id_of, open_database
from producers.cli.tables import table
from producers.errors import UnknownChange
from producers.records.failures import failed_by_reason
from producers.records.moments import Moment
from producers.records.timeline import timeline
from producers.store import trail

#: Moments a whole change shows as text before it asks for --target or --failed instead.
SCREEN = 60
#: Targets a failed group names as text (all of them in --json).
NAMED = 8


def _rows(moments: list[Moment], *, with_target: bool = True) -> list[tuple[str, ...]]:
    """Cells to print; details hold what senders wrote (error messages): never rich markup."""
    rows: list[tuple[str, ...]] = []
    for m in moments:
        when = m.time.strftime("%H:%M:%S.%f")[:-3]
        who = (escape(m.target or ""),) if with_target else ()
        rows.append((when, m.kind, *who, escape(m.detail)))
    return rows


def _print(console: Console, title: str, moments: list[Moment], with_target: bool) -> None:
    columns = (
        ("time (UTC)", "kind", "target", "detail")
        if with_target
        else ("time (UTC)", "kind", "detail")
    )
    day = moments[0].time.strftime("%Y-%m-%d") if moments else ""
    console.print(
        table(
            columns,
            _rows(moments, with_target=with_target),
            title=f"{title} {day}".rstrip(),
            fold=True,
        )
    )


@cli.command()
@click.argument("change_id", metavar="CHANGE_ID")
@click.option(
    "--target",
    "target",
    metavar="T",
    default=None,
    help="Only this target (and the change's own moments).",
)
@click.option(
    "--failed",
    is_flag=True,
    help="The failed targets grouped by reason, one example timeline each.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print JSON: moments as objects with time, kind, target, detail.",
)
def trace(change_id: str, target: str | None, failed: bool, as_json: bool) -> None:
    """The timeline of CHANGE_ID (the id or a unique prefix of it): received, admitted or
    refused, planned, each wave, each request published, received by which worker (attempt,
    queue wait), readiness, retries with reason and backoff, resources applied, outcomes,
    dead letters, superseded."""
    db = open_database()
    change_id = change_id_of(change_id)
    if failed:
        return _failed(db, change_id, target, as_json)
    if target is not None:
        with db.connection() as conn:
            if not trail.has_target(conn, change_id, target):
                raise UnknownChange(f"change {change_id} has no target {target!r}")
    moments = timeline(db, change_id, target=target)
    if as_json:
        click.echo(json.dumps([m.as_json() for m in moments]))
        return None
    console = Console()
    shown = moments
    if target is None and len(moments) > SCREEN:
        shown = [m for m in moments if m.target is None]
    title = f"change {change_id}" + (f", target {target}" if target else "")
    _print(console, title, shown, with_target=target is None)
    if len(shown) < len(moments):
        targets = len({m.target for m in moments if m.target})
        click.echo(
            f"{len(moments) - len(shown)} more moments of {targets} targets: "
            f"`provision trace {change_id[:8]} --failed`, or --target T, or --json"
        )
    return None


def _failed(db: Any, change_id: str, target: str | None, as_json: bool) -> None:
    """Each reason the change's targets failed for, most targets first, with the timeline
    of one of them (`--target`, when it is in a group, is that group's example)."""
    groups = failed_by_reason(db, change_id)
    shown = []
    for reason, targets in groups:
        example = target if target in targets else targets[0]
        moments = timeline(db, change_id, target=example)
        shown.append((reason, targets, example, moments))
    if as_json:
        rows = [
            {
                "reason": reason,
                "targets": targets,
                "example": example,
                "timeline": [m.as_json() for m in moments],
            }
            for reason, targets, example, moments in shown
        ]
        click.echo(json.dumps({"change_id": change_id, "failed": rows}))
        return
    if not shown:
        click.echo(f"change {change_id}: no target failed")
        return
    console = Console()
    total = sum(len(targets) for _, targets, _, _ in shown)
    click.echo(f"change {change_id}: {total} failed target(s), {len(shown)} reason(s)")
    for reason, targets, example, moments in shown:
        named = ", ".join(targets[:NAMED]) + (
            f" (+{len(targets) - NAMED})" if len(targets) > NAMED else ""
        )
        console.print(f"\n[bold]{len(targets)} target(s)[/bold]: {escape(reason)}", highlight=False)
        console.print(f"  {named}", markup=False, highlight=False)
        _print(console, f"example {example}", moments, with_target=False)
