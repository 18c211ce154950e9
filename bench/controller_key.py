"""The benchmarks' controller key pair: made once per bench process, in a private directory.

Every change request a benchmark publishes is signed with it, as the controller signs
them, and every worker it starts verifies with its public key (`Sandbox.env` names both,
`PROVISION_CONTROLLER_KEY` and `PROVISION_CONTROLLER_PUBLIC_KEY`).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import cache
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.controller_signatures import CONTROLLER_KEY_ENV, CONTROLLER_PUBLIC_KEY_ENV
from contracts.signatures import new_private_key, public_pem, write_private_key


@cache
def _pair() -> tuple[Ed25519PrivateKey, Path, Path]:
    home = Path(tempfile.mkdtemp(prefix="provision-bench-key-"))
    atexit.register(shutil.rmtree, home, True)
    key = new_private_key()
    private, public = home / "controller.key", home / "controller.pub"
    write_private_key(private, key)
    public.write_text(public_pem(key))
    return key, private, public


def controller_key() -> Ed25519PrivateKey:
    """The key that signs the benchmarks' change requests."""
    return _pair()[0]


def controller_env() -> dict[str, str]:
    """The environment that gives our processes the key (controller) and its public half."""
    _, private, public = _pair()
    return {CONTROLLER_KEY_ENV: str(private), CONTROLLER_PUBLIC_KEY_ENV: str(public)}
