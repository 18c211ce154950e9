"""The controller's public key a worker verifies every change request with.

`provision worker --controller-public-key PATH` (or `PROVISION_CONTROLLER_PUBLIC_KEY`) names
it; a worker without one does not start. It is installed in the worker's main process
before Celery starts, where admission (`workers.delivery.admission`) checks each task
message, so a request the controller did not sign is refused before anything is locked
or applied.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from contracts.controller_signatures import CONTROLLER_PUBLIC_KEY_ENV
from contracts.errors import ContractError
from contracts.signatures import PEM_BYTES, BadKey, load_public_key

FLAG = "--controller-public-key"

_installed: Ed25519PublicKey | None = None


def read(path: str | Path | None) -> Ed25519PublicKey:
    """The key at `path`, else at $PROVISION_CONTROLLER_PUBLIC_KEY. ContractError (exit 2)
    naming the flag when neither is given or the file holds no Ed25519 public key."""
    where = path or os.environ.get(CONTROLLER_PUBLIC_KEY_ENV) or None
    if where is None:
        reason = (
            f"no controller public key: pass {FLAG} PATH or set {CONTROLLER_PUBLIC_KEY_ENV} "
            "(the controller.pub `provision controller-key create` wrote); a worker applies "
            "only change requests the controller signed"
        )
        raise ContractError("provision worker", [(FLAG, reason)])
    try:
        with open(where, encoding="utf-8") as handle:
            text = handle.read(PEM_BYTES + 1)
        return load_public_key(text, f"controller public key {where}")
    except OSError as exc:
        raise ContractError(
            "provision worker", [(FLAG, f"{where}: {exc.strerror or exc}")]
        ) from None
    except (BadKey, UnicodeDecodeError) as exc:
        raise ContractError("provision worker", [(FLAG, str(exc))]) from None


def install(key: Ed25519PublicKey) -> None:
    """Make `key` this process's (forked pool children inherit it)."""
    global _installed
    _installed = key


def installed() -> Ed25519PublicKey | None:
    """The key `install` set, or None: then every request is refused (fail closed)."""
    return _installed
