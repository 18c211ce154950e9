"""Check-in proofs: an Ed25519 signature over one check-in, never a secret on the wire.

An agent used to send its bearer token in every check-in, so anyone who could bind a queue
to `provision.checkins` could read it and act as that agent for ever. Now `provision enroll`
makes an Ed25519 key pair: the agent keeps the private key (credentials.json), the control
plane keeps only the public key, and each check-in carries a fresh `nonce`, its `sent_at`
and `proof`, the signature of `checkin_message(request)`. What crosses the broker is
useless to a reader: the proof covers that one nonce, time and body, and the desk admits a
nonce once and a `sent_at` only within `PROVISION_LIMIT_CHECKIN_WINDOW_S` of its clock.

The signed message is text, so any language can produce it (the same bytes signed with
`openssl pkeyutl -sign -rawin` give the same signature):

    provision-checkin-v1
    <target>
    <nonce>
    <sent_at in UTC, ISO 8601 with microseconds and +00:00>
    <sha256 hex of the body>

where the body is every other field of the check-in but `proof`, as JSON with sorted keys,
no spaces and ASCII escapes (`{"applied_revision":3,"interval_s":1800.0,"report_only":false}`),
defaults included. A field added to CheckinRequest is thus signed without a protocol change.

Keys and proofs are base64url without padding: 43 characters for a 32-byte key, 86 for a
64-byte signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import UTC
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

if TYPE_CHECKING:
    from contracts.checkins import CheckinRequest

#: The first line of every signed message: a signature for anything else never verifies here.
CONTEXT = "provision-checkin-v1"
#: The fields on the head lines; the body digest covers every other one but `proof`.
HEAD = ("target", "nonce", "sent_at")
#: A 32-byte key, base64url without padding.
KEY_PATTERN = r"^[A-Za-z0-9_-]{43}$"
#: A 64-byte signature, base64url without padding.
PROOF_PATTERN = r"^[A-Za-z0-9_-]{86}$"
#: 16 to 48 random bytes, base64url without padding.
NONCE_PATTERN = r"^[A-Za-z0-9_-]{22,64}$"


def encode(raw: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode(text: str) -> bytes:
    """The bytes of base64url with or without padding. Raises ValueError."""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not base64url: {exc}") from exc


def new_key_pair() -> tuple[str, str]:
    """A fresh (private key, public key), each 32 bytes base64url."""
    private = Ed25519PrivateKey.generate()
    return encode(private.private_bytes_raw()), encode(private.public_key().public_bytes_raw())


def public_of(private_key: str) -> str:
    """The public key of a private key (both base64url). Raises ValueError."""
    key = Ed25519PrivateKey.from_private_bytes(decode(private_key))
    return encode(key.public_key().public_bytes_raw())


def checkin_message(request: CheckinRequest) -> bytes:
    """The exact bytes a check-in's proof signs (see the module docstring)."""
    fields = request.model_dump(mode="json", exclude={"proof"})
    body = {name: value for name, value in fields.items() if name not in HEAD}
    body_json = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    sent_at = request.sent_at.astimezone(UTC).isoformat(timespec="microseconds")
    lines = [
        CONTEXT,
        request.target,
        request.nonce,
        sent_at,
        hashlib.sha256(body_json.encode()).hexdigest(),
    ]
    return "\n".join(lines).encode()


def sign(private_key: str, message: bytes) -> str:
    """The proof of `message` with `private_key` (base64url). Raises ValueError."""
    key = Ed25519PrivateKey.from_private_bytes(decode(private_key))
    return encode(key.sign(message))


def verify(public_key: str, message: bytes, proof: str) -> bool:
    """True only when `proof` is `message` signed with the private half of `public_key`."""
    try:
        key = Ed25519PublicKey.from_public_bytes(decode(public_key))
        key.verify(decode(proof), message)
    except (InvalidSignature, ValueError):
        return False
    return True
