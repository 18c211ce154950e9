"""`provision audit`: read the audit trail; `provision audit verify`: prove it is whole.

The trail is append-only and chained (`producers.store.audit`): each record holds the hash
of the one before, so `verify` finds the first record that was edited, or after which one
was removed or inserted.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console

from contracts import ExitCode
from producers.cli import cli
from producers.cli.db import open_database
from producers.cli.oncall import parse_window
from producers.cli.tables import table
from producers.store import audit as trail
from producers.store.audit import AuditEntry

#: Ids listed when an abbreviated --change matches several.
AMBIGUOUS_SHOWN = 10
#: Characters of a record's detail shown in the table (--json shows it whole).
DETAIL_CHARS = 300


def since_of(text: str, now: datetime) -> datetime:
    """`15m`, `2h`, `1d` back from `now`, or an ISO 8601 time (UTC when it has no zone)."""
    try:
        return now - parse_window(text)
    except click.BadParameter:
        pass
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is neither a duration like 15m, 2h or 1d nor an ISO time "
            "like 2026-01-31T09:00:00Z",
            param_hint="--since",
        ) from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def resolve_change(found: list[str], given: str) -> str | None:
    """The one change id `given` names among `found` (ids starting with it, sorted): itself
    when exact, else the only one; None when none. Several: a usage error listing them."""
    if given in found or not found:
        return given if given in found else None
    if len(found) == 1:
        return found[0]
    shown = ", ".join(found[:AMBIGUOUS_SHOWN])
    more = " ..." if len(found) > AMBIGUOUS_SHOWN else ""
    raise click.BadParameter(
        f"{given!r} is ambiguous: it starts {shown}{more}; give more of the id",
        param_hint="--change",
    )


def as_json(entry: AuditEntry) -> dict[str, Any]:
    """One record as `provision audit --json` prints it."""
    return {
        "id": entry.id,
        "at": entry.at.astimezone(UTC).isoformat(),
        "actor": entry.actor,
        "action": entry.action,
        "subject": entry.subject,
        "detail": entry.detail,
        "hash": entry.hash,
    }


def _detail_text(detail: dict[str, Any]) -> str:
    text = json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text if len(text) <= DETAIL_CHARS else text[: DETAIL_CHARS - 1] + "…"


@cli.group(invoke_without_command=True)
@click.option(
    "--since",
    default=None,
    metavar="T",
    help="Records at or after T: an ISO time (UTC if no zone) or 15m, 2h, 1d back from now.",
)
@click.option("--issuer", default=None, metavar="I", help="Records by actor (or issuer) I.")
@click.option(
    "--change",
    "change",
    default=None,
    metavar="ID",
    help="Records about change ID (a unique prefix will do, as with git).",
)
@click.option("--action", default=None, metavar="A", help="Only action A, e.g. rollout.pause.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="The latest N matching records.",
)
@click.option("--json", "as_json_lines", is_flag=True, help="One JSON object per record.")
@click.pass_context
def audit(
    ctx: click.Context,
    since: str | None,
    issuer: str | None,
    change: str | None,
    action: str | None,
    limit: int,
    as_json_lines: bool,
) -> None:
    """Who did what, to which subject and when: every operator action, every change event
    accepted or refused and every change of issuers, oldest first."""
    if ctx.invoked_subcommand is not None:
        return
    start = since_of(since, datetime.now(UTC)) if since is not None else None
    with open_database().connection() as conn:
        change_id = change
        if change is not None:
            change_id = resolve_change(trail.change_ids(conn, change, AMBIGUOUS_SHOWN + 1), change)
        found = (
            []
            if change is not None and change_id is None
            else trail.search(
                conn, since=start, issuer=issuer, change_id=change_id, action=action, limit=limit
            )
        )
    if as_json_lines:
        for entry in found:
            click.echo(json.dumps(as_json(entry), sort_keys=True))
        return
    if not found:
        click.echo("no audit record matches")
        return
    rows = [
        (
            str(e.id),
            e.at.astimezone(UTC).isoformat(timespec="seconds"),
            e.actor,
            e.action,
            e.subject,
            _detail_text(e.detail),
        )
        for e in found
    ]
    columns = ("id", "at", "actor", "action", "subject", "detail")
    Console().print(table(columns, rows, title=f"audit trail: {len(found)} record(s)", fold=True))


@audit.command("verify")
@click.option("--json", "as_json_object", is_flag=True, help="Print one JSON object.")
def audit_verify(as_json_object: bool) -> None:
    """Walk the chain from the first record, recomputing every hash: exit 0 with the number
    of records checked, or 1 naming the first record that does not match and why."""
    with open_database().connection() as conn:
        checked = trail.check(conn)
    broken = checked.broken
    if as_json_object:
        shown = None
        if broken is not None:
            at = broken.at.astimezone(UTC).isoformat()
            shown = {"id": broken.id, "at": at, "action": broken.action, "reason": broken.reason}
        click.echo(json.dumps({"ok": broken is None, "checked": checked.matched, "broken": shown}))
    elif broken is None:
        click.echo(f"audit trail whole: {checked.matched} record(s) checked")
    else:
        click.echo(
            f"audit record {broken.id} ({broken.at.astimezone(UTC).isoformat()}, "
            f"{broken.action}) does not match: {broken.reason}; "
            f"{checked.matched} record(s) before it matched"
        )
    if broken is not None:
        raise SystemExit(int(ExitCode.FAILED))
