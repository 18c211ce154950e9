"""Ed25519 signatures over raw bytes, with keys in PEM, as any tool makes them.

Change events are signed by their issuer and change requests and rendered states by the
controller. Both sign exact bytes (never re-serialised JSON), so an emitter in any language
signs what it sends without canonicalising anything. Keys are PEM because that is what
`openssl genpkey -algorithm ed25519` and `openssl pkey -pubout` print, so a key made with
any tool can be registered; signatures travel as standard base64 (88 characters for 64
bytes), which is what `openssl pkeyutl -sign -rawin | base64 -w0` prints.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from contracts.private_files import PrivateFileError, read_private

#: The largest PEM text accepted for one key (an Ed25519 key's PEM is about 120 bytes).
PEM_BYTES = 4096
#: The length of a signature in standard base64 (64 bytes, padded).
SIGNATURE_CHARS = 88


class BadKey(ValueError):
    """A key that cannot be read: the message says which and why, never the key itself."""


def new_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_pem(key: Ed25519PrivateKey) -> bytes:
    """PKCS#8 PEM, unencrypted: the file that holds it is 0600."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """SubjectPublicKeyInfo PEM, exactly what `openssl pkey -pubout` prints."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_public_key(pem: str, what: str = "public_key") -> Ed25519PublicKey:
    """An Ed25519 public key from PEM text. Raises BadKey naming `what`."""
    if len(pem) > PEM_BYTES:
        raise BadKey(f"{what}: longer than {PEM_BYTES} bytes, not one Ed25519 key")
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError) as exc:
        raise BadKey(f"{what}: not a PEM public key ({type(exc).__name__})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise BadKey(f"{what}: not an Ed25519 key ({type(key).__name__})")
    return key


def load_private_key(path: Path | str, what: str = "signing key") -> Ed25519PrivateKey:
    """An Ed25519 private key from a PEM file. Raises BadKey naming the file, never the key.

    The file must not be readable by group or others: a private key anyone on the host can
    read signs for anyone. It is read as contracts.private_files reads every secret: a
    regular file of at most PEM_BYTES, opened once and never waited on.
    """
    path = Path(path)
    try:
        data = read_private(path, PEM_BYTES)
    except PrivateFileError as exc:
        raise BadKey(f"{what} {path}: {_refusal(exc)}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise BadKey(f"{what} {path}: not an unencrypted PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise BadKey(f"{what} {path}: not an Ed25519 key ({type(key).__name__})")
    return key


def _refusal(exc: PrivateFileError) -> str:
    """A refused key file in this module's own words (the ones its callers' users know)."""
    if exc.problem == "shared":
        return "readable by others; chmod 600 it"
    if exc.problem == "too-large":
        return f"longer than {PEM_BYTES} bytes, not one Ed25519 key"
    return exc.detail or exc.reason


def write_private_key(path: Path | str, key: Ed25519PrivateKey) -> None:
    """Write `key` to a new file created 0600 (never widened, never over another file)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_pem(key))


def key_id_of(public: Ed25519PublicKey | str) -> str:
    """A short stable id for a public key: `ed25519:` and 16 hex of sha256 of its raw bytes."""
    if isinstance(public, str):
        public = load_public_key(public)
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]


def sign(key: Ed25519PrivateKey, data: bytes) -> str:
    """The signature of `data`, standard base64."""
    return base64.b64encode(key.sign(data)).decode()


def verify(public: Ed25519PublicKey, data: bytes, signature: str) -> bool:
    """Whether `signature` (standard base64) is `public`'s signature of exactly `data`."""
    if not isinstance(signature, str) or len(signature) != SIGNATURE_CHARS:
        return False
    try:
        raw = base64.b64decode(signature, validate=True)
        public.verify(raw, data)
    except (binascii.Error, ValueError, InvalidSignature):
        return False
    return True
