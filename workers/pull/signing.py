"""Signing check-ins: the agent proves it holds its target's enrollment key, afresh each time.

Each check-in gets a new random nonce and the current time, and the proof signs them with
the body (`contracts.proofs`). Nothing secret is in the message: the private key stays in
credentials.json, so a check-in read off the broker is worth one answer at most, and the
desk gives that answer once (the nonce) and only within CHECKIN_WINDOW_S (the time).
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from contracts import proofs
from contracts.changes import utcnow
from contracts.checkins import CheckinRequest, Credentials

#: Random bytes per nonce (128 bits: never repeated by chance).
NONCE_BYTES = 16
#: A placeholder proof, replaced before anything is sent: validation needs the field.
_UNSIGNED = "A" * 86


def signed_checkin(
    credentials: Credentials,
    target: str,
    *,
    now: datetime | None = None,
    nonce: str | None = None,
    **body: Any,
) -> CheckinRequest:
    """A check-in for `target` with `body` (applied_revision, report_only, interval_s), its
    fresh nonce and time, and its proof. Raises pydantic's ValidationError on a bad field."""
    unsigned = CheckinRequest(
        target=target,
        nonce=nonce or proofs.encode(secrets.token_bytes(NONCE_BYTES)),
        sent_at=now or utcnow(),
        proof=_UNSIGNED,
        **body,
    )
    proof = proofs.sign(credentials.private_key, proofs.checkin_message(unsigned))
    return unsigned.model_copy(update={"proof": proof})
