"""Turning a change file into published change requests: select, check, book, publish."""

from __future__ import annotations

import getpass
import socket
import uuid
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker_config import Endpoints
from broker_config.connections import connect_broker, connect_redis
from contracts import ChangeFile, ChangeRequest, DesiredState, Selector, Target
from contracts.changes import utcnow
from contracts.telemetry import ATTR_CHANGE_ID, setup_tracing, tracer
from producers.counters.sequences import next_sequences
from producers.errors import SelectionError
from producers.messaging.publisher import Publisher
from producers.records.ledger import Ledger
from producers.store.database import Database


def default_issuer() -> str:
    """`user@host` of whoever runs the command: the audit trail's 'who'."""
    return f"{getpass.getuser()}@{socket.gethostname()}"


def select(targets: tuple[Target, ...], selector: Selector) -> list[Target]:
    """The targets the selector picks. Raises SelectionError when it picks none."""
    ids = [t.id for t in targets]
    duplicates = sorted(i for i, n in Counter(ids).items() if n > 1)
    if duplicates:
        raise SelectionError(f"duplicate target ids in the fleet: {', '.join(duplicates)}")
    if selector.targets is not None:
        unknown = sorted(set(selector.targets) - set(ids))
        if unknown:
            raise SelectionError(f"selector names unknown targets: {', '.join(unknown)}")
    chosen = [t for t in targets if selector.matches(t)]
    if not chosen:
        raise SelectionError(
            f"selector {selector.describe()} matches no target (the fleet has {len(targets)})"
        )
    return chosen


@dataclass(frozen=True)
class PublishedChange:
    """What `publish_change` did: the change id and the targets it reached."""

    change_id: str
    targets: list[Target]
    dry_run: bool


def publish_change(
    change: ChangeFile,
    endpoints: Endpoints,
    *,
    issued_by: str,
    dry_run: bool = False,
    ttl: timedelta = timedelta(hours=1),
    change_id: str | None = None,
    db: Database | None = None,
    key: Ed25519PrivateKey,
) -> PublishedChange:
    """Publish one change request per selected target, signed with `key` (the controller's),
    after every check has passed.

    Nothing is published unless the selection is non-empty, every region has a queue, and
    the change is booked in the ledger, so `provision status` can always account for it.
    `db` is the caller's open Database; without it, one is opened for this call.
    """
    setup_tracing("provision-cli", command=True)
    if change.targets is None:
        raise SelectionError("publish_change needs the change file's own `targets` fleet")
    chosen = select(change.targets, change.selector)
    desired = DesiredState(resources=change.resources)
    change_id = change_id or str(uuid.uuid4())
    issued_at = utcnow()
    client = connect_redis(endpoints)
    with ExitStack() as stack:
        if db is None:
            db = stack.enter_context(Database.open(max_size=2, name="provision-publish"))
        connection = connect_broker(endpoints)
        stack.callback(lambda: connection.close() if connection.is_open else None)
        publisher = Publisher(connection, key)
        publisher.ensure_regions(t.region for t in chosen)
        Ledger(db).open_change(
            change_id,
            [t.id for t in chosen],
            issued_by=issued_by,
            issued_at=issued_at,
            dry_run=dry_run,
        )
        sequences = next_sequences(client, (t.id for t in chosen))
        with tracer().start_as_current_span("provision apply") as span:
            span.set_attribute(ATTR_CHANGE_ID, change_id)
            publisher.publish_all(
                ChangeRequest(
                    change_id=change_id,
                    target=target,
                    desired=desired,
                    issued_by=issued_by,
                    issued_at=issued_at,
                    expires_at=issued_at + ttl,
                    dry_run=dry_run,
                    sequence=sequences[target.id],
                )
                for target in chosen
            )
    return PublishedChange(change_id, chosen, dry_run)
