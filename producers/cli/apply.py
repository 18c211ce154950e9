"""`provision apply`: a change event from a file (or a source-of-truth revision), checked
here as the controller would check it, signed and published; with --wait, its progress."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import redis
from pydantic import ValidationError
from rich.console import Console

from broker_config import Endpoints
from broker_config.connections import connect_broker
from contracts import ChangeFile, ContractError, ExitCode, load_document
from contracts.events import ChangeEvent, RolloutState
from contracts.telemetry import ATTR_CHANGE_ID, setup_tracing, tracer
from producers.cli import cli
from producers.cli.changes import BAD, render
from producers.cli.db import open_database
from producers.cli.options import parse_selector, selector_option, timeout_option
from producers.errors import SelectionError
from producers.messaging.emitter import SIGNING_KEY_ENV, publish_event, signing_key
from producers.messaging.publisher import Publisher
from producers.records.inventory import InventoryStore
from producers.records.ledger import Ledger
from producers.rollouts.direct import default_issuer
from producers.rollouts.intake import Refusal, event_from_file, plan_event
from producers.rollouts.progress import Settled, wait_for
from producers.rollouts.store import RolloutBook
from producers.truth.revisions import RevisionStore


def exit_code_of(end: Settled) -> ExitCode:
    """OK when every target ended well, FAILED when one did not or the rollout stopped
    short, TIMEOUT when the wait ran out first."""
    if not end.finished:
        return ExitCode.TIMEOUT
    if end.state != RolloutState.COMPLETED or end.status is None:
        return ExitCode.FAILED
    counts = end.status.counts()
    return ExitCode.FAILED if any(counts[word] for word in BAD) else ExitCode.OK


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path), required=False)
@click.option(
    "--rev",
    "revision",
    default=None,
    metavar="REV",
    help="Roll out this source-of-truth revision (a number or 'latest').",
)
@selector_option
@click.option("--wait", is_flag=True, help="Show progress until every target has an outcome.")
@timeout_option(300.0, help="Seconds --wait waits at most.")
@click.option("--dry-run", is_flag=True, help="Report what would change; change nothing.")
@click.option("--issued-by", default=None, help="Who asks (default user@host).")
@click.option(
    "--key",
    "key_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"The private key that signs the event (default ${SIGNING_KEY_ENV}).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object last.")
def apply(
    file: Path | None,
    revision: str | None,
    selector: tuple[str, ...],
    wait: bool,
    timeout_s: float,
    dry_run: bool,
    issued_by: str | None,
    key_path: Path | None,
    as_json: bool,
) -> None:
    """Roll FILE's desired state (or revision REV) out to the targets its selector picks.

    The change becomes a change event on provision.events, the same road other services
    take, signed with the operator's key (--key or $PROVISION_SIGNING_KEY); `provision
    controller` verifies it, plans the waves and delivers it, by push or pull. Whatever the
    controller would refuse for its content is refused here first, and nothing is published.
    """
    # The file first: a bad one is exit 2 naming it, even with the services away.
    data = load_document(file, ChangeFile).model_dump(exclude_unset=True) if file else {}
    key = signing_key(key_path)
    endpoints = Endpoints.from_env()
    db = open_database()
    truth = RevisionStore(db)
    event = _event(file, data, revision, selector, truth, issued_by or default_issuer(), dry_run)
    connection = connect_broker(endpoints)
    setup_tracing("provision-cli", command=True)
    attributes = {ATTR_CHANGE_ID: event.change_id}
    root = tracer().start_as_current_span("provision apply", attributes=attributes)
    try:
        with root:
            publisher = Publisher(connection)
            try:
                admission = plan_event(
                    event, InventoryStore(db).targets, publisher.ensure_regions, truth
                )
            except Refusal as refusal:
                raise SelectionError(refusal.reason) from refusal
            targets, plan = admission.targets, admission.plan
            publish_event(connection, event, key=key)
    finally:
        if connection.is_open:
            connection.close()
    change_id = event.change_id
    result: dict[str, object] = {
        "change_id": change_id,
        "targets": [t.id for t in targets],
        "waves": [len(w.targets) for w in plan.waves],
        "dry_run": dry_run,
    }
    if not as_json:
        click.echo(
            f"change {change_id}: {len(targets)} target(s) in {len(plan.waves)} wave(s)"
            f"{' (dry run)' if dry_run else ''}"
        )
    code = ExitCode.OK
    if wait:
        # Steering needs no Redis: this client connects only if the book ever uses it.
        client = redis.Redis.from_url(endpoints.redis_url, decode_responses=True)
        end = wait_for(RolloutBook(db, client), Ledger(db), change_id, timeout_s=timeout_s)
        code = exit_code_of(end)
        if end.status is not None:
            result = {**end.status.as_json(), "finished": end.finished}
        result.update(
            {
                "change_id": change_id,
                "state": end.state.value if end.state else None,
                "reason": end.reason,
                "finished": end.finished,
            }
        )
        if not as_json:
            if end.status is not None:
                render(end.status, Console())
            click.echo(
                f"rollout {end.state.value if end.state else 'not started'}"
                f"{': ' + end.reason if end.reason else ''}"
            )
            if not end.finished:
                click.echo(
                    f"timed out after {timeout_s:g}s (is `provision controller` "
                    f"running?); `provision status {change_id}` follows up",
                    err=True,
                )
    if as_json:
        click.echo(json.dumps(result))
    raise SystemExit(int(code))


def _event(
    file: Path | None,
    data: dict[str, Any],
    revision: str | None,
    selector: tuple[str, ...],
    truth: RevisionStore,
    issued_by: str,
    dry_run: bool,
) -> ChangeEvent:
    """The change event for FILE and/or --rev, or a usage error saying what is missing."""
    if file is None and revision is None:
        raise click.UsageError("give a change FILE, or --rev REV to roll out a revision")
    data = dict(data)
    if selector:
        data["selector"] = parse_selector(selector)
    if revision is not None:
        data["revision"] = truth.resolve(revision)
    source = str(file) if file is not None else "--rev"
    try:
        change = ChangeFile.model_validate(data)
        return event_from_file(change, issued_by=issued_by, dry_run=dry_run)
    except ValidationError as exc:
        raise ContractError.from_validation(source, exc) from exc
