"""What the audit trail records of each change event, accepted or refused.

One entry per event the controller takes (`event.accepted`, `event.refused`): who sent it as
its signature proves (never what the body claims), with which key, what it asked for and
why it was refused. The trace id comes from the `traceparent` header, checked for shape,
since headers are the sender's.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg

from contracts import limits
from contracts.events import ChangeEvent
from producers.records.senders import sender_of
from producers.rollouts.authority import Signer
from producers.rollouts.intake import Refusal
from producers.rollouts.refusal_limit import RefusalLimit, Suppressed
from producers.store import audit
from producers.store.database import Database

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")


def trace_id_of(headers: dict[str, Any] | None) -> str | None:
    value = (headers or {}).get("traceparent")
    match = _TRACEPARENT.match(value) if isinstance(value, str) and len(value) < 100 else None
    return match.group(1) if match else None


def record_event(
    conn: psycopg.Connection,
    action: str,
    *,
    signer: Signer | None,
    event: ChangeEvent | None,
    change_id: str | None,
    headers: dict[str, Any] | None,
    reason: str = "",
    targets: int | None = None,
    revision: int | None = None,
) -> None:
    """Append one `event.accepted` or `event.refused` entry (actor: the issuer, or
    `unknown` before a signature verified)."""
    selector = event.selector.model_dump(mode="json", exclude_defaults=True) if event else None
    if revision is None and event is not None:
        revision = event.revision
    detail = {
        "issuer": signer.issuer if signer else None,
        "key_id": signer.key_id if signer else None,
        "event_id": change_id,
        "selector": selector,
        "targets": targets,
        "revision": revision,
        "trace_id": trace_id_of(headers),
        "reason": reason,
    }
    actor = signer.issuer if signer else "unknown"
    audit.append(conn, actor=actor, action=action, subject=change_id or "", detail=detail)


def record_suppressed(conn: psycopg.Connection, suppressed: Suppressed) -> None:
    """Append one `event.refused.suppressed` entry: how many refused events of one sender
    were counted and not written, over how long (`refusal_limit`)."""
    detail = {
        "sender": suppressed.sender,
        "count": suppressed.count,
        "seconds": round(suppressed.seconds, 1),
        "limit": limits.limit("AUDIT_REFUSALS_PER_MIN").env,
    }
    audit.append(
        conn, actor="unknown", action="event.refused.suppressed", subject="", detail=detail
    )


class Auditing:
    """Writes each change event's audit entry (a mixin of `Admitting`): the event in hand's
    verified signer and parsed event are set as admission learns them, so a refusal's entry
    says as much as was proven before it."""

    db: Database
    #: Which refused events reach the audit trail (a sender's allowance per minute).
    refusals: RefusalLimit
    _signer: Signer | None
    _event: ChangeEvent | None

    def _audit_refused(self, refusal: Refusal, properties: Any) -> None:
        """The refusal's audit entry, unless its sender is past its allowance
        (`refusal_limit`); then it is counted, and the count is written when due."""
        if self.refusals.admit(sender_of(properties)):
            self._audit("event.refused", refusal.change_id, properties.headers, refusal.reason)
        self._audit_suppressed()

    def _audit_suppressed(self, *, everything: bool = False) -> None:
        """One `event.refused.suppressed` entry per sender whose counted refusals are due."""
        ended = self.refusals.due(everything=everything)
        if ended:
            with self.db.connection() as conn:
                for suppressed in ended:
                    record_suppressed(conn, suppressed)

    def _audit(
        self,
        action: str,
        change_id: str | None,
        headers: dict[str, Any] | None,
        reason: str = "",
        *,
        targets: int | None = None,
        revision: int | None = None,
    ) -> None:
        """One audit entry for an accepted or refused event (see `trail`)."""
        with self.db.connection() as conn:
            record_event(
                conn,
                action,
                signer=self._signer,
                event=self._event,
                change_id=change_id,
                headers=headers,
                reason=reason,
                targets=targets,
                revision=revision,
            )
