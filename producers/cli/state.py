"""`provision state publish|show|diff|revisions` (`provision waiver` is in cli/waiver.py).

REV is a revision number or `latest`. `state show --json` prints the exact canonical bytes
a target is given (the bytes push and pull deliver), so `sha256sum` can compare them.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import psycopg
import yaml
from rich.console import Console

from contracts.redaction import redact
from contracts.truth import RenderedState, SourceBundle, content_hash
from producers.cli import cli
from producers.cli.controller_key import controller_key_option, load_controller_key
from producers.cli.db import open_database
from producers.cli.tables import table
from producers.records import audit
from producers.records.inventory import InventoryStore
from producers.rollouts.direct import default_issuer
from producers.truth import source, waivers
from producers.truth.diff import StateDiff, diff
from producers.truth.errors import WaiverError
from producers.truth.revisions import Published, RevisionStore


class _BlockDumper(yaml.SafeDumper):
    """YAML for people: multi-line strings (file content, templates) as `|` blocks."""


def _str_block(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str_block)


def _readable(value: Any) -> Any:
    """`kind` and `path` first in every mapping; the rest stays sorted."""
    if isinstance(value, dict):
        first = [k for k in ("revision", "target", "kind", "path") if k in value]
        keys = first + [k for k in value if k not in first]
        return {k: _readable(value[k]) for k in keys}
    if isinstance(value, list):
        return [_readable(item) for item in value]
    return value


def _store(*, signing: bool = False, controller_key: str | None = None) -> RevisionStore:
    """The revision store; `signing`, for a command that publishes, loads the controller's
    key first (exit 2 naming --controller-key without one): rendered states are signed as
    they are rendered."""
    key = load_controller_key(controller_key) if signing else None
    return RevisionStore(open_database(), signer=key)


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, sort_keys=True))


def _published_line(published: Published, changes: StateDiff | None) -> str:
    rev = published.revision
    if not published.created:
        return (
            f"unchanged: identical to revision {rev.number} ({rev.content_hash[:19]}); "
            "no new revision stored"
        )
    line = f"revision {rev.number} ({rev.content_hash[:19]}) published by {rev.author}"
    if changes is not None:
        line += (
            f": {len(changes.changed)} target(s) changed, {len(changes.targets_added)} added, "
            f"{len(changes.targets_removed)} removed"
        )
    return line


#: What an operator's publish records in the audit trail, in the publish's transaction:
#: given the connection, the new revision and the number of the one before it (0: none).
Recorder = Callable[[psycopg.Connection, Published, int], object]


def _publish(
    store: RevisionStore, bundle: SourceBundle, author: str, message: str, recorded: Recorder
) -> tuple[Published, StateDiff | None]:
    """Publish, and diff against the revision before it (for the one-line summary).

    Layers pushed inline by change events carry over, so a publish from the directory
    never reverts a pushed change; the inventory follows the truth's. A new revision is
    audited (`recorded`) in the transaction that stores it; an unchanged one stores nothing
    and records nothing.
    """
    before = store.latest_number()
    if before and not bundle.layers:
        bundle = bundle.model_copy(update={"layers": store.bundle(before).layers})
    published = store.publish(
        bundle,
        author=author,
        message=message,
        then=lambda conn, done: recorded(conn, done, before),
    )
    InventoryStore(store.db).load(bundle.inventory)
    changes = None
    if published.created and before:
        changes = diff(store.bundle(before), before, bundle, published.revision.number)
    return published, changes


def _report(published: Published, changes: StateDiff | None, as_json: bool) -> None:
    if as_json:
        _print_json(
            {
                **published.revision.model_dump(mode="json"),
                "created": published.created,
                "diff": changes.as_json() if changes else None,
            }
        )
        return
    click.echo(_published_line(published, changes))
    if changes:
        for target in changes.changed:
            click.echo(f"  {target.target}: {target.summary()}")


@cli.group()
def state() -> None:
    """The source of truth: publish revisions, show and compare rendered state."""


@state.command("publish")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("-m", "--message", required=True, help="Why: kept with the revision.")
@click.option("--author", default=None, help="Who publishes (default user@host).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@controller_key_option
def publish(
    directory: Path, message: str, author: str | None, as_json: bool, controller_key: str | None
) -> None:
    """Validate DIRECTORY as a whole and store it as a new immutable revision."""
    store = _store(signing=True, controller_key=controller_key)  # no key: exit 2 first
    bundle = source.load(directory)

    def recorded(conn: psycopg.Connection, done: Published, before: int) -> None:
        rev = done.revision
        detail = {
            "revision": rev.number,
            "previous": before or None,
            "content_hash": rev.content_hash,
            "author": rev.author,
            "message": rev.message,
            "directory": str(directory.resolve()),
        }
        audit.record(conn, "state.publish", str(rev.number), detail)

    published, changes = _publish(store, bundle, author or default_issuer(), message, recorded)
    _report(published, changes, as_json)


@state.command("show")
@click.argument("target")
@click.option("--rev", default=None, help="Revision number or 'latest' (default).")
@click.option("--json", "as_json", is_flag=True, help="Print the canonical bytes (redacted).")
def show(target: str, rev: str | None, as_json: bool) -> None:
    """Print the rendered desired state of TARGET at a revision."""
    store = _store()
    number = store.resolve(rev)
    raw = store.rendered(number, target)
    document = json.loads(raw)
    shown = redact(document)
    if as_json:
        if shown is document:
            sys.stdout.buffer.write(raw + b"\n")
        else:  # sensitive content never leaves the store for display: digests stand in
            sys.stdout.buffer.write(json.dumps(shown, sort_keys=True).encode() + b"\n")
        sys.stdout.flush()
        return
    RenderedState.model_validate_json(raw)  # what is shown is what an engine accepts
    digest = hashlib.sha256(raw).hexdigest()
    click.echo(
        f"# target {target} at revision {number} ({len(raw)} canonical bytes, sha256:{digest})"
    )
    if shown is not document:
        click.echo("# sensitive paths: their content is shown as its sha256 and size")
    data = _readable(shown)
    click.echo(yaml.dump(data, Dumper=_BlockDumper, sort_keys=False), nl=False)


@state.command("diff")
@click.argument("rev_a")
@click.argument("rev_b")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def state_diff(rev_a: str, rev_b: str, as_json: bool) -> None:
    """What changes for which targets from REV_A to REV_B."""
    store = _store()
    a, b = store.resolve(rev_a), store.resolve(rev_b)
    result = diff(store.bundle(a), a, store.bundle(b), b)
    if as_json:
        _print_json(result.as_json())
        return
    click.echo(f"revision {a} → {b}")
    for word, ids in (("added", result.targets_added), ("removed", result.targets_removed)):
        if ids:
            click.echo(f"targets {word}: {', '.join(ids)}")
    for target in result.changed:
        click.echo(f"  {target.target}: {target.summary()}")
    click.echo(f"{len(result.changed)} target(s) changed, {result.unchanged} unchanged")


@state.command("revisions")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array.")
def revisions(as_json: bool) -> None:
    """Every revision, oldest first."""
    rows = _store().list()
    if as_json:
        _print_json([r.model_dump(mode="json") for r in rows])
        return
    cells = [
        (
            str(r.number),
            r.content_hash[7:19],
            r.author,
            r.created_at.isoformat(timespec="seconds"),
            r.message,
        )
        for r in rows
    ]
    columns = ("rev", "hash", "author", "created", "message")
    Console().print(table(columns, cells, title="revisions", fold=True))


# -- waivers -------------------------------------------------------------------------


def _base(store: RevisionStore, directory: Path | None) -> SourceBundle:
    """The bundle a waiver edit starts from: DIR (equal to latest) or the latest revision."""
    latest = store.latest()
    if directory is None:
        if latest is None:
            store.resolve(None)  # raises: nothing published yet
        assert latest is not None
        return store.bundle(latest.number)
    bundle = source.load(directory)
    if latest is not None and content_hash(bundle) != latest.content_hash:
        raise WaiverError(
            f"{directory} differs from revision {latest.number}; publish it first "
            f"(provision state publish {directory} -m ...) so no other edit rides along"
        )
    return bundle


def _commit(
    store: RevisionStore,
    bundle: SourceBundle,
    directory: Path | None,
    author: str | None,
    message: str,
    as_json: bool,
    recorded: Recorder,
) -> None:
    root = str(directory) if directory else "(latest revision)"
    source.validate(bundle, root)
    audit.actor()  # a bad PROVISION_ACTOR stops here, before waivers.yaml is rewritten
    if directory is not None:
        waivers.write(directory, bundle.waivers)
    published, changes = _publish(store, bundle, author or default_issuer(), message, recorded)
    _report(published, changes, as_json)
    if directory is None and not as_json:
        click.echo(
            "note: the source directory was not changed; edit its waivers.yaml to match "
            "(or use --dir), or the next `provision state publish` undoes this",
            err=True,
        )
