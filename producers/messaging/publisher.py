"""Publish change requests with pika as Celery protocol-v2 task messages.

Every publish is confirmed, persistent and `mandatory`: a request whose routing key
reaches no queue comes back as an error instead of vanishing. Every request is signed
with the controller's key first (`contracts.controller_signatures`): a worker applies
nothing else.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Iterable
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker_config import CHANGES_EXCHANGE, region_queue
from broker_config.connections import speaks_as
from contracts import ChangeRequest, DesiredState
from contracts.changes import EMPTY_EMBED, task_headers
from contracts.controller_signatures import (
    CONTROLLER_KEY_ENV,
    SIGNATURE_FIELD,
    canonical_json,
    sign_request,
)
from contracts.telemetry import (
    ATTR_CHANGE_ID,
    ATTR_REGION,
    ATTR_TARGET,
    MESSAGING_ROUTING_KEY,
    inject,
    sending,
    setup_tracing,
)
from producers.errors import PublishError, SelectionError
from producers.messaging.window import ConfirmWindow

#: Namespace of task ids: one (change, target) always gets the same id, so a republish
#: of the same request is recognisably the same message.
TASK_ID_NAMESPACE = uuid.UUID("6f1c8f0e-5d0b-4a53-9b1e-6b7c3f0a2d11")

_ORIGIN = f"{os.getpid()}@{socket.gethostname()}"


def task_id(change_id: str, target_id: str) -> str:
    """The Celery task id of one (change, target)."""
    return str(uuid.uuid5(TASK_ID_NAMESPACE, f"{change_id}/{target_id}"))


#: The last desired state signed and its canonical JSON: every request of a change carries
#: the same (frozen) DesiredState, so a fan-out serialises it once, not twice per target.
_last_desired: tuple[DesiredState, bytes] | None = None


def signed(key: Ed25519PrivateKey, request: ChangeRequest) -> ChangeRequest:
    """`request` carrying the controller's signature of everything else in it."""
    global _last_desired
    data = request.model_dump(mode="json", exclude={SIGNATURE_FIELD})
    last = _last_desired
    if last is None or last[0] is not request.desired:
        last = _last_desired = (request.desired, canonical_json(data["desired"]))
    return request.model_copy(update={SIGNATURE_FIELD: sign_request(key, data, last[1])})


def task_message(request: ChangeRequest) -> tuple[dict[str, Any], bytes]:
    """Headers and body of the Celery task message that carries `request`.

    The body is `[args, kwargs, embed]`; embed is a dict (not null) because Celery reads
    `embed.get(...)` when it reports a lost worker.
    """
    tid = task_id(request.change_id, request.target.id)
    kwargs = {"request": request.model_dump(mode="json")}
    shown = f"{{'change_id': {request.change_id!r}, 'target': {request.target.id!r}}}"
    headers = task_headers(tid, origin=_ORIGIN, kwargsrepr=shown)
    inject(headers)
    body = json.dumps([[], kwargs, EMPTY_EMBED], separators=(",", ":")).encode()
    return headers, body


class Publisher:
    """Publishes change requests, signed with `key` (the controller's), on one confirmed
    channel of a pika BlockingConnection. Without a key it can only check regions."""

    def __init__(self, connection: Any, key: Ed25519PrivateKey | None = None) -> None:
        setup_tracing("provision-publisher")
        self.key = key
        self._connection = connection
        self._channel = connection.channel()
        self._channel.confirm_delivery()
        #: The AMQP user_id of every request: RabbitMQ checks it names this connection's user.
        self.user_id = speaks_as(connection)
        #: The confirm window of `publish_all`, opened on first use and kept.
        self._window: ConfirmWindow | None = None

    def ensure_regions(self, regions: Iterable[str]) -> None:
        """Raise SelectionError, before anything is published, for a region without a queue."""
        import pika.exceptions

        missing = []
        for region in sorted(set(regions)):
            channel = self._connection.channel()
            try:
                channel.queue_declare(region_queue(region), passive=True)
            except pika.exceptions.ChannelClosedByBroker:
                missing.append(region)
                continue
            channel.close()
        if missing:
            names = ", ".join(f"{r!r} (queue {region_queue(r)})" for r in missing)
            raise SelectionError(
                f"unknown region {names}: no queue exists for it. "
                "Declare it with `provision broker declare --region REGION` or start a worker "
                "with `provision worker --region REGION`."
            )

    def publish(self, request: ChangeRequest) -> str:
        """Sign and publish one request in a PRODUCER span; return its task id. Raises
        PublishError if not routed, or when this publisher has no controller key."""
        request = self._signed(request)
        with self._sending(request):
            headers, body = task_message(request)  # injects the span's context itself
            self._send(request, headers, body)
        return str(headers["id"])

    def publish_all(self, requests: Iterable[ChangeRequest]) -> list[str]:
        """Sign and publish many requests with their confirms in a window (one round trip
        per window, not per request); return their task ids once every one is confirmed.

        Raises PublishError naming every request the broker did not take (after the rest
        were sent: a retry republishes them all, and a worker applies a request once).
        """
        if self._window is None:  # one channel for every batch: opening one costs 3 trips
            self._window = ConfirmWindow(self._connection)
        window = self._window
        ids: list[str] = []
        try:
            for request in requests:
                request = self._signed(request)
                with self._sending(request):
                    headers, body = task_message(request)
                    target = request.target
                    properties = self._properties(headers)
                    window.publish(
                        target.id, CHANGES_EXCHANGE, target.routing_key, body, properties
                    )
                ids.append(str(headers["id"]))
            untaken = window.drain()
        except BaseException:
            self._window = None  # its state is unknown: the next batch opens a new one
            window.close()
            raise
        if untaken:
            shown = "; ".join(f"{u.key}: {u.reason}" for u in untaken[:10])
            more = f" (and {len(untaken) - 10} more)" if len(untaken) > 10 else ""
            raise PublishError(
                f"{len(untaken)} of {len(ids)} change requests were not taken by the broker: "
                f"{shown}{more} (is every region declared?)"
            )
        return ids

    def _signed(self, request: ChangeRequest) -> ChangeRequest:
        if self.key is None:
            raise PublishError(
                f"change {request.change_id}: no controller key to sign change requests with: "
                f"pass --controller-key PATH or set {CONTROLLER_KEY_ENV}"
            )
        return signed(self.key, request)

    @staticmethod
    def _sending(request: ChangeRequest) -> Any:
        """The PRODUCER span of one request's publish."""
        target = request.target
        attributes = {
            MESSAGING_ROUTING_KEY: target.routing_key,
            ATTR_CHANGE_ID: request.change_id,
            ATTR_TARGET: target.id,
            ATTR_REGION: target.region,
        }
        return sending(CHANGES_EXCHANGE, task_id(request.change_id, target.id), **attributes)

    def _properties(self, headers: dict[str, Any]) -> Any:
        import pika

        return pika.BasicProperties(
            content_type="application/json",
            content_encoding="utf-8",
            correlation_id=headers["id"],
            delivery_mode=pika.DeliveryMode.Persistent,
            headers=headers,
            user_id=self.user_id,
        )

    def _send(self, request: ChangeRequest, headers: dict[str, Any], body: bytes) -> None:
        import pika.exceptions

        properties = self._properties(headers)
        try:
            self._channel.basic_publish(
                CHANGES_EXCHANGE, request.target.routing_key, body, properties, mandatory=True
            )
        except pika.exceptions.UnroutableError as exc:
            raise PublishError(
                f"change {request.change_id} for target {request.target.id!r}: routing key "
                f"{request.target.routing_key!r} reached no queue (is region "
                f"{request.target.region!r} declared?)"
            ) from exc
        except pika.exceptions.NackError as exc:
            raise PublishError(
                f"change {request.change_id} for target {request.target.id!r}: "
                "the broker refused the message (nack)"
            ) from exc
