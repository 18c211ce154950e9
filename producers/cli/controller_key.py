"""The controller's signing key: `provision controller-key create`, and the option that names it.

The controller signs every change request it publishes and every rendered state as it is
published (`contracts.controller_signatures`). Its private key is a PEM file (0600) named
by `--controller-key PATH` or `PROVISION_CONTROLLER_KEY` on every process that publishes
change requests or revisions; its public key goes to every worker
(`provision worker --controller-public-key PATH`) and, through `provision enroll`, to
every agent.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.controller_signatures import CONTROLLER_KEY_ENV, CONTROLLER_PUBLIC_KEY_ENV
from contracts.errors import ContractError
from contracts.signatures import (
    BadKey,
    key_id_of,
    load_private_key,
    load_public_key,
    new_private_key,
    public_pem,
    write_private_key,
)
from producers.cli import cli

#: The file names `controller-key create` writes into its --out directory.
PRIVATE_NAME = "controller.key"
PUBLIC_NAME = "controller.pub"
FLAG = "--controller-key"
MISSING = (
    f"no controller key: pass {FLAG} PATH or set {CONTROLLER_KEY_ENV} (make one with "
    "`provision controller-key create --out DIR`); the controller signs what it sends"
)


def controller_key_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--controller-key PATH` (default $PROVISION_CONTROLLER_KEY), passed as `controller_key`."""
    return click.option(
        FLAG,
        "controller_key",
        default=None,
        metavar="PATH",
        help=f"The controller's private key (PEM, 0600) that signs change requests and "
        f"rendered states. Default ${CONTROLLER_KEY_ENV}.",
    )(command)


def load_controller_key(path: str | Path | None) -> Ed25519PrivateKey:
    """The key at `path`, else at $PROVISION_CONTROLLER_KEY. ContractError (exit 2) naming
    the flag when neither is given or the file is not a usable key."""
    where = path or os.environ.get(CONTROLLER_KEY_ENV) or None
    if where is None:
        raise ContractError("controller key", [(FLAG, MISSING)])
    try:
        return load_private_key(where, "controller key")
    except BadKey as exc:
        raise ContractError("controller key", [(FLAG, str(exc))]) from None


def make_controller_key(out: Path) -> tuple[Path, Path, str]:
    """Write a new key pair into `out` (created 0700): the private key 0600, never over an
    existing file. Returns (private path, public path, key id)."""
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    private, public = out / PRIVATE_NAME, out / PUBLIC_NAME
    if private.exists() or public.exists():
        raise ContractError(
            "controller-key create",
            [("--out", f"{out} already holds a controller key; choose another directory")],
        )
    key = new_private_key()
    write_private_key(private, key)
    public.write_text(public_pem(key))
    return private, public, key_id_of(key.public_key())


@cli.group("controller-key")
def controller_key_group() -> None:
    """The controller's signing key (change requests and rendered states)."""


@controller_key_group.command("create")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help=f"Directory for {PRIVATE_NAME} (0600) and {PUBLIC_NAME}.",
)
@click.option(
    "--keep",
    is_flag=True,
    help="If --out already holds a key pair, keep it (a one-shot service can run this on "
    "every start); without it, an existing key is an error.",
)
@click.option(
    "--public-out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help=f"Also copy {PUBLIC_NAME} into this directory: what workers mount, so they never "
    "see the private key.",
)
def create(out: Path, keep: bool, public_out: Path | None) -> None:
    """Make the controller's key pair; print where its public key is."""
    private, public = out / PRIVATE_NAME, out / PUBLIC_NAME
    if keep and private.exists():
        key = load_controller_key(private)  # a kept key must still be a usable one
        if not public.exists():
            public.write_text(public_pem(key))
        key_id = key_id_of(key.public_key())
        click.echo(f"controller key {key_id}: {private} (kept)")
    else:
        private, public, key_id = make_controller_key(out)
        click.echo(f"controller key {key_id}: {private} (keep it secret, 0600)")
    if public_out is not None:
        public_out.mkdir(parents=True, exist_ok=True)
        (public_out / PUBLIC_NAME).write_text(public.read_text())
        public = public_out / PUBLIC_NAME
    click.echo(f"public key: {public}")
    click.echo(
        f"give the controller {FLAG} {private} (or {CONTROLLER_KEY_ENV}); workers "
        f"--controller-public-key {public} (or {CONTROLLER_PUBLIC_KEY_ENV})"
    )


def controller_public_pem(path: str | Path | None = None) -> str:
    """The controller's public key (PEM) for agents: from `path`, else
    $PROVISION_CONTROLLER_PUBLIC_KEY, else derived from the controller key."""
    where = path or os.environ.get(CONTROLLER_PUBLIC_KEY_ENV) or None
    if where is None:
        return public_pem(load_controller_key(None))
    try:
        text = Path(where).read_text()[:8192]
        load_public_key(text, f"controller public key {where}")
    except OSError as exc:
        raise ContractError(
            "controller public key", [("--controller-public-key", f"{where}: {exc.strerror}")]
        ) from None
    except BadKey as exc:
        raise ContractError(
            "controller public key", [("--controller-public-key", str(exc))]
        ) from None
    return text
