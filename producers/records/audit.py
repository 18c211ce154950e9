"""Recording operator actions in the audit trail: who did what to which subject.

Every operator command records itself through `record` (inside the transaction of an
action that writes PostgreSQL, so the action and its record commit together or not at all)
or `record_after` (right after an action that changes something else: the broker, RabbitMQ
users). Only an action that changed something is recorded: a refused one leaves no record.

The actor is the operator's identity, never a secret: `PROVISION_ACTOR` when set, else
`user@host` of whoever runs the command, followed by the id of the operator's signing key
(`PROVISION_SIGNING_KEY`) when one is configured. The records of change events and issuers
are written where events are accepted (`producers.store.audit.append` with the `event.*`
and `issuer.*` actions).
"""

from __future__ import annotations

import os
from typing import Any

import psycopg

from contracts import ExitCode, ProvisioningError
from contracts.signatures import BadKey, key_id_of, load_private_key
from producers.messaging.emitter import SIGNING_KEY_ENV
from producers.rollouts.direct import default_issuer
from producers.store import audit
from producers.store.audit import AuditEntry
from producers.store.database import Database

#: Names the operator in the trail (e.g. the issuer of their signing key).
ACTOR_ENV = "PROVISION_ACTOR"
#: Longest actor kept (the column's limit).
ACTOR_CHARS = 200

#: Every operator action recorded, by name (the `action` column).
ACTIONS = frozenset(
    {
        "rollout.pause",
        "rollout.resume",
        "rollout.abort",
        "waiver.add",
        "waiver.remove",
        "agent.enroll",
        "agent.rotate",
        "access.apply",
        "access.revoke",
        "dlq.replay",
        "dlq.purge",
        "state.publish",
        "inventory.load",
    }
)
#: Ids listed in one record's detail at most (a purge of a flood names the first ones).
IDS_LISTED = 1000


class ActorError(ProvisioningError):
    """PROVISION_ACTOR cannot name anyone."""

    exit_code = ExitCode.INPUT


def actor() -> str:
    """Who is acting: PROVISION_ACTOR, else `user@host`. Raises ActorError for a value that
    is empty, too long or holds control characters (it would mislead a reviewer)."""
    given = os.environ.get(ACTOR_ENV)
    if given is None:
        return default_issuer() + _key_named()
    name = given.strip()
    if not name or len(name) > ACTOR_CHARS or not name.isprintable():
        raise ActorError(
            f"{ACTOR_ENV}: {given[:40]!r} is not an identity (1 to {ACTOR_CHARS} printable "
            "characters)"
        )
    return name


def _key_named() -> str:
    """` (key ed25519:...)` when PROVISION_SIGNING_KEY names a readable key, else nothing:
    the key id ties the record to an issuer (`provision keys list`) without trusting a name
    the operator typed."""
    path = os.environ.get(SIGNING_KEY_ENV, "").strip()
    if not path:
        return ""
    try:
        return f" (key {key_id_of(load_private_key(path).public_key())})"
    except BadKey:
        return ""  # `provision apply` says what is wrong with it; the trail names the user


def record(
    conn: psycopg.Connection,
    action: str,
    subject: str,
    detail: dict[str, Any] | None = None,
    *,
    who: str | None = None,
) -> AuditEntry:
    """Append one operator action in `conn`'s current transaction (a savepoint inside it):
    if the action's transaction rolls back, so does its record. `who` defaults to `actor()`."""
    if action not in ACTIONS:
        raise ValueError(f"{action!r} is not an operator action ({', '.join(sorted(ACTIONS))})")
    return audit.append(conn, actor=who or actor(), action=action, subject=subject, detail=detail)


def record_after(
    db: Database, action: str, subject: str, detail: dict[str, Any] | None = None, *, who: str
) -> AuditEntry:
    """Append one operator action in a transaction of its own, right after an action that
    wrote nowhere in PostgreSQL. `who` is `actor()` as taken before acting, so a bad
    PROVISION_ACTOR stops the command before it changes anything."""
    with db.connection() as conn:
        return record(conn, action, subject, detail, who=who)


def listed(ids: list[str]) -> dict[str, Any]:
    """`{"count": N, "ids": [...]}`, the list cut at IDS_LISTED (`ids_cut` says so)."""
    shown: dict[str, Any] = {"count": len(ids), "ids": ids[:IDS_LISTED]}
    if len(ids) > IDS_LISTED:
        shown["ids_cut"] = True
    return shown
