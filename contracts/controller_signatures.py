"""What the controller signs, byte for byte: change requests and rendered states.

A worker or an agent applies nothing the controller did not sign. The controller's
Ed25519 key (`PROVISION_CONTROLLER_KEY`, a PEM file) signs; workers get its public key
with their configuration (`PROVISION_CONTROLLER_PUBLIC_KEY`), agents with their
enrollment (`controller_public_key` in credentials.json). Signatures are
`contracts.signatures.sign` over the bytes below: Ed25519, standard base64.

**A change request** (`ChangeRequest`, field `signature`) is signed over these lines, each
ended by `\\n` (UTF-8):

    provision-request-v1
    <change_id as JSON>
    <target.id as JSON>
    <sequence as JSON: an integer or null>
    <expires_at as JSON: the string exactly as the request carries it>
    <sha256 hex of the canonical JSON of `desired`>
    <sha256 hex of the canonical JSON of the whole request object without `signature`>

"As JSON" is one value as `json.dumps(v)` writes it (strings quoted, non-ASCII and control
characters escaped as `\\uXXXX`, so no field can add a line). Canonical JSON: keys sorted,
no whitespace (`,` and `:`), non-ASCII escaped as `\\uXXXX`
(Python's `json.dumps(v, sort_keys=True, separators=(",", ":"))`), applied to the request
object as it travels in the task message's `kwargs.request`. The first five lines name
what matters most; the last hash covers the rest (the target's address, `dry_run`,
`revision`, `issued_by`), so nothing in the request can be changed under a valid
signature. A retry or a dead-letter replay carries the same object, so it still verifies.

**A rendered state** (the stored canonical bytes of one target's `RenderedState`) is signed
when it is rendered, as its revision is published, and the signature is stored next to it;
a check-in reply carries it as `state_signature`:

    provision-state-v1
    <target id as JSON>
    <revision number>
    <sha256 hex of the state's exact bytes>

So a state edited where it is kept (the system of record) no longer matches its
signature, and one target's state cannot pass for another's or for another revision.
The sequence a check-in hands out with it only orders outcomes: it is not signed.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from contracts.signatures import sign, verify

#: The first line of a change request's signed bytes.
REQUEST_CONTEXT = "provision-request-v1"
#: The first line of a rendered state's signed bytes.
STATE_CONTEXT = "provision-state-v1"
#: The controller's private key file (PEM, 0600): every process that publishes change
#: requests or renders states.
CONTROLLER_KEY_ENV = "PROVISION_CONTROLLER_KEY"
#: The controller's public key file (PEM): what workers verify requests with.
CONTROLLER_PUBLIC_KEY_ENV = "PROVISION_CONTROLLER_PUBLIC_KEY"
#: The field of a change request that holds the signature.
SIGNATURE_FIELD = "signature"


class SignatureRefused(ValueError):
    """A request or state this key did not sign; the message is the reason, never the data."""


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, ASCII: the JSON whose sha256 is signed."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


#: A stand-in for the desired state while the rest of a request is serialised: random per
#: process, so no request can carry it and move the splice (it is checked anyway).
_STAND_IN = f"desired-{secrets.token_hex(16)}"
_HOLE = canonical_json(_STAND_IN)


def _canonical_with(unsigned: dict[str, Any], desired: bytes) -> bytes:
    """`canonical_json(unsigned)`, with `desired` (the canonical JSON of its `desired`)
    spliced in instead of serialised a second time: the desired state is most of a
    request, and the same for every target of a change. Byte for byte the same: the rest
    is serialised around a stand-in string, which is then replaced by `desired`; if the
    stand-in does not appear exactly once, the whole object is serialised instead."""
    if "desired" not in unsigned:
        return canonical_json(unsigned)
    whole = canonical_json({**unsigned, "desired": _STAND_IN})
    if whole.count(_HOLE) != 1:
        return canonical_json(unsigned)
    return whole.replace(_HOLE, desired)


def request_bytes(request: dict[str, Any], desired: bytes | None = None) -> bytes:
    """The signed bytes of a change request given as its JSON object (with or without
    `signature`). Raises SignatureRefused when the object cannot even be read.

    `desired`, when given, must be `canonical_json(request["desired"])`: a publisher
    signing one change for many targets computes it once (the bytes are the same)."""
    if not isinstance(request, dict):
        raise SignatureRefused("the change request is not an object")
    unsigned = {k: v for k, v in request.items() if k != SIGNATURE_FIELD}
    target = unsigned.get("target")
    try:
        if desired is None:
            desired = canonical_json(unsigned.get("desired"))
        lines = [
            REQUEST_CONTEXT,
            json.dumps(unsigned.get("change_id")),
            json.dumps(target.get("id") if isinstance(target, dict) else None),
            json.dumps(unsigned.get("sequence")),
            json.dumps(unsigned.get("expires_at")),
            _sha256(desired),
            _sha256(_canonical_with(unsigned, desired)),
        ]
    except (TypeError, ValueError, RecursionError) as exc:
        raise SignatureRefused(
            f"the change request cannot be read for its signature: {exc}"
        ) from None
    return "".join(line + "\n" for line in lines).encode()


def sign_request(
    key: Ed25519PrivateKey, request: dict[str, Any], desired: bytes | None = None
) -> str:
    """The controller's signature of a change request (its JSON object); `desired` as in
    `request_bytes`."""
    return sign(key, request_bytes(request, desired))


def check_request(public: Ed25519PublicKey, request: Any) -> None:
    """Raise SignatureRefused (with the reason) unless `request` carries `public`'s valid
    signature."""
    if not isinstance(request, dict):
        raise SignatureRefused("unsigned change request: no request object")
    signature = request.get(SIGNATURE_FIELD)
    if signature is None:
        raise SignatureRefused("unsigned change request: no controller signature")
    if not isinstance(signature, str):
        raise SignatureRefused("bad signature: the signature is not a string")
    if not verify(public, request_bytes(request), signature):
        raise SignatureRefused(
            "bad signature: the change request is not signed by this worker's controller key "
            "(forged, altered, or signed by another key)"
        )


def state_bytes(target_id: str, revision: int, state: bytes) -> bytes:
    """The signed bytes of one target's rendered state at one revision."""
    lines = [STATE_CONTEXT, json.dumps(target_id), str(int(revision)), _sha256(state)]
    return "".join(line + "\n" for line in lines).encode()


def sign_state(key: Ed25519PrivateKey, target_id: str, revision: int, state: bytes) -> str:
    return sign(key, state_bytes(target_id, revision, state))


def check_state(
    public: Ed25519PublicKey, target_id: str, revision: int, state: bytes, signature: Any
) -> None:
    """Raise SignatureRefused unless `signature` is `public`'s over this exact state."""
    if signature is None:
        raise SignatureRefused(
            f"unsigned rendered state of {target_id!r} at revision {revision} (published "
            "before states were signed, or its signature was removed): publish a new revision"
        )
    if not isinstance(signature, str) or not verify(
        public, state_bytes(target_id, revision, state), signature
    ):
        raise SignatureRefused(
            f"bad signature on the rendered state of {target_id!r} at revision {revision}: "
            "it was altered where it is kept, or signed by another key"
        )
