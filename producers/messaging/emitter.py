"""Publishing change events to `provision.events`, as any other service would: signed.

The body is serialised once and those exact bytes are signed and sent (headers
`x-provision-key-id` and `x-provision-signature`), the recipe any emitter follows.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker_config import EVENTS_EXCHANGE
from broker_config.connections import speaks_as
from contracts import ExitCode, ProvisioningError, limits
from contracts.events import KEY_ID_HEADER, SIGNATURE_HEADER, ChangeEvent
from contracts.signatures import BadKey, key_id_of, load_private_key, sign
from contracts.telemetry import (
    ATTR_CHANGE_ID,
    MESSAGING_ROUTING_KEY,
    sending,
    setup_tracing,
)
from producers.errors import PublishError

#: The environment variable naming the operator's private key file.
SIGNING_KEY_ENV = "PROVISION_SIGNING_KEY"


class NoSigningKey(ProvisioningError):
    """No usable key to sign change events with: the message says how to get one."""

    exit_code = ExitCode.INPUT


def signing_key(path: str | Path | None = None) -> Ed25519PrivateKey:
    """The operator's key: `path` (`--key`), else $PROVISION_SIGNING_KEY. Raises NoSigningKey."""
    chosen = path if path else os.environ.get(SIGNING_KEY_ENV, "").strip()
    if not chosen:
        raise NoSigningKey(
            f"no signing key: give --key PATH or set {SIGNING_KEY_ENV} (make one with "
            "`provision keys create ISSUER --out DIR`; its issuer must be registered)"
        )
    try:
        return load_private_key(chosen)
    except BadKey as exc:
        raise NoSigningKey(str(exc)) from None


def signed_headers(key: Ed25519PrivateKey, body: bytes) -> dict[str, str]:
    """The two headers that make `body` a signed change event."""
    return {KEY_ID_HEADER: key_id_of(key.public_key()), SIGNATURE_HEADER: sign(key, body)}


def publish_event(
    connection: Any, event: ChangeEvent, routing_key: str = "apply", *, key: Ed25519PrivateKey
) -> None:
    """Publish one signed event, confirmed, persistent and mandatory (no queue: an error)."""
    import pika
    import pika.exceptions

    body = event.model_dump_json().encode()
    # The controller would refuse it: refuse it here (exit 2), before publishing.
    limits.check_json("change event", body, limits.EVENT_BYTES, "EVENT_BYTES")
    setup_tracing("provision-cli", command=True)
    channel = connection.channel()
    channel.confirm_delivery()
    attributes = {MESSAGING_ROUTING_KEY: routing_key, ATTR_CHANGE_ID: event.change_id}
    with sending(EVENTS_EXCHANGE, event.change_id, **attributes) as trace_headers:
        headers: dict[str, Any] = {**signed_headers(key, body), **trace_headers}
        try:
            channel.basic_publish(
                EVENTS_EXCHANGE,
                routing_key,
                body,
                pika.BasicProperties(
                    content_type="application/json",
                    delivery_mode=2,
                    headers=headers,
                    message_id=event.change_id,
                    user_id=speaks_as(connection),
                ),
                mandatory=True,
            )
        except pika.exceptions.UnroutableError as exc:
            raise PublishError(
                "no queue is bound to provision.events; run `provision broker declare`"
            ) from exc
    channel.close()
