"""`provision keys create|list|revoke`: the keys issuers sign change events with.

`create` makes an Ed25519 key pair (the private key 0600, the public PEM beside it) and
prints the key id. With `--scope` it also registers the issuer and the key directly in the
system of record, for fleets without a source-of-truth directory; otherwise the issuer goes
into `issuers.yaml` (the command prints the entry) and is granted by a reviewed revision.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import psycopg
from pydantic import ValidationError
from rich.console import Console

from contracts import ContractError, ExitCode, ProvisioningError
from contracts.issuers import Issuer, IssuerKey, Scope
from contracts.signatures import key_id_of, new_private_key, public_pem, write_private_key
from contracts.yaml_bounds import load_yaml
from producers.cli import cli
from producers.cli.db import open_database
from producers.cli.tables import table
from producers.rollouts.direct import default_issuer
from producers.truth.issuers import Registry, UnknownKey

SCOPE_HELP = (
    "Register the issuer directly with this scope: a JSON or YAML mapping with the fields "
    "of issuers.yaml's scope, e.g. '{kinds: [file], paths: [/etc/app]}' ('{}': any "
    "target, every kind, no shell, no allow_setid)."
)


class KeyProblem(ProvisioningError):
    """A key that cannot be made, registered or revoked; the message says why."""

    exit_code = ExitCode.INPUT


@cli.group()
def keys() -> None:
    """Issuers' signing keys: who may send change events (see the README's 'Who may change
    what')."""


def parse_scope(text: str) -> Scope:
    """`--scope TEXT` as a Scope; a bad one names the field and the reason (exit 2)."""
    data = load_yaml(text, "--scope")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ContractError("--scope", [("", "expected a mapping, e.g. '{kinds: [file]}'")])
    try:
        return Scope.model_validate(data)
    except ValidationError as exc:
        raise ContractError.from_validation("--scope", exc) from exc


@keys.command("create")
@click.argument("issuer")
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory for ISSUER.key (0600) and ISSUER.pub (made 0700 if missing).",
)
@click.option("--scope", "scope_text", default=None, metavar="MAPPING", help=SCOPE_HELP)
def keys_create(issuer: str, out: Path, scope_text: str | None) -> None:
    """Make a key pair for ISSUER; print its key id (the x-provision-key-id header)."""
    key = new_private_key()
    pem = public_pem(key)
    key_id = key_id_of(key.public_key())
    try:
        entry = Issuer(name=issuer, keys=(IssuerKey(id=key_id, public_key=pem),))
    except ValidationError as exc:
        raise ContractError.from_validation("ISSUER", exc) from exc
    scope = parse_scope(scope_text) if scope_text is not None else None
    db = open_database() if scope is not None else None
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    private, public = out / f"{issuer}.key", out / f"{issuer}.pub"
    try:
        write_private_key(private, key)
    except FileExistsError:
        raise KeyProblem(f"{private} exists; choose another --out") from None
    except OSError as exc:
        raise KeyProblem(f"{private}: {exc.strerror or exc}") from None
    public.write_text(pem)
    click.echo(key_id)
    click.echo(f"private key {private} (0600), public key {public}", err=True)
    if db is None or scope is None:
        yaml_entry = entry.model_dump(mode="json", exclude_defaults=True)
        click.echo(
            "not registered: add this to issuers.yaml and publish, or run again with --scope:\n"
            + json.dumps({"issuers": [yaml_entry]}, indent=2),
            err=True,
        )
        return
    try:
        Registry(db).register(issuer, scope, key_id, pem, actor=default_issuer())
    except psycopg.errors.UniqueViolation:
        raise KeyProblem(f"key {key_id} is registered already") from None
    click.echo(f"registered issuer {issuer} with key {key_id}", err=True)


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def keys_list(as_json: bool) -> None:
    """Every issuer's keys: registered directly, or from the latest revision's issuers.yaml."""
    found = Registry(open_database()).keys()
    if as_json:
        click.echo(json.dumps({"keys": [k.as_json() for k in found]}))
        return
    rows = [
        (
            k.issuer,
            k.key_id,
            k.source,
            "revoked " + k.revoked_at.isoformat(timespec="seconds") if k.revoked_at else "active",
            json.dumps(k.scope.model_dump(mode="json", exclude_defaults=True)),
        )
        for k in found
    ]
    Console().print(table(("issuer", "key id", "from", "state", "scope"), rows, fold=True))


@keys.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Refuse every event signed with KEY_ID from now on (effective at once)."""
    db = open_database()
    try:
        known = Registry(db).revoke(key_id, actor=default_issuer())
    except UnknownKey as exc:
        raise KeyProblem(str(exc)) from None
    click.echo(f"revoked key {key_id} of {known.issuer}")
