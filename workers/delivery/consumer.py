"""The worker's message consumer: messages Celery cannot turn into a task die with a reason.

Every message is first checked by `workers.delivery.admission` (our task only, size, depth, shape,
eta, embedded callbacks), before Celery unpacks it; anything Celery then raises for that
one message is dead-lettered too, so no message can stop the worker.

Celery acks a body it cannot decode (so it is lost) and rejects unknown or invalid ones
(so the queue's dead-letter exchange gets them with only `x-death: rejected`). Here each
goes to `provision.dead` with the reason spelled out, then is acked; if that publish
fails, the message is rejected as before, so it still reaches the dead letters.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.worker.consumer import Consumer as CeleryConsumer

from broker_config import CHANGES_EXCHANGE
from broker_config.dead_letters import dead_letter
from contracts import ErrorInfo, OutcomeStatus
from contracts.changes import utcnow
from workers.delivery.admission import Refused, Unsigned, admit
from workers.delivery.report import kombu_send, outcome, report

log = logging.getLogger("provision.consumer")


class Consumer(CeleryConsumer):  # type: ignore[misc]
    """Celery's consumer, with every unreadable message dead-lettered with its reason."""

    def create_task_handler(self, *args: Any, **kwargs: Any) -> Any:
        """Celery's handler, behind the admission check and a catch-all for one message."""
        handle = super().create_task_handler(*args, **kwargs)

        def on_task_received(message: Any) -> None:
            try:
                admit(message)
            except Unsigned as unsigned:
                self._dead(message, str(unsigned))
                return self._report(message, unsigned)
            except Refused as refused:
                return self._dead(message, str(refused))
            except Exception as exc:
                return self._dead(message, f"task message check failed: {exc!r}"[:500])
            try:
                handle(message)
            except self.connection_errors:
                raise
            except Exception as exc:
                log.exception("a task message could not be handled")
                if not message.acknowledged:
                    self._dead(message, f"task message not handled: {exc!r}"[:500])
            return None

        return on_task_received

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        self._dead(message, f"cannot decode the message body: {exc}")

    def on_unknown_message(self, body: Any, message: Any) -> None:
        self._dead(message, "not a task message (no 'task' header)")

    def on_unknown_task(self, body: Any, message: Any, exc: Exception) -> None:
        name = (message.headers or {}).get("task")
        self._dead(message, f"unknown task {name!r}: {exc}")

    def on_invalid_task(self, body: Any, message: Any, exc: Exception) -> None:
        self._dead(message, f"invalid task message: {exc}")

    def _report(self, message: Any, unsigned: Unsigned) -> None:
        """Report a refused unsigned request as a `rejected` outcome under what it claims
        (no sequence or revision: nothing it says is trusted), so the refusal is recorded.
        Best effort: the dead letter already holds it."""
        if unsigned.change_id is None or unsigned.target is None:
            return
        routing_key = str((message.delivery_info or {}).get("routing_key") or "rejected")
        try:
            event = outcome(
                None,
                OutcomeStatus.REJECTED,
                1,
                str(getattr(self, "hostname", None) or "worker"),
                utcnow(),
                error=ErrorInfo(type="BadSignature", message=str(unsigned), transient=False),
                change_id=unsigned.change_id,
                target=unsigned.target,
            )
            report(self.app, event, routing_key)
        except Exception:
            log.exception("the refusal of an unsigned request was not reported")

    def _dead(self, message: Any, reason: str) -> None:
        delivery = message.delivery_info or {}
        routing_key = str(delivery.get("routing_key") or "")
        headers = dict(message.headers or {})
        body = message.body if isinstance(message.body, bytes) else str(message.body).encode()
        correlation_id = message.properties.get("correlation_id")
        if correlation_id and "id" not in headers:
            headers["id"] = correlation_id
        try:
            dead_letter(
                kombu_send(self.app),
                body=body,
                headers=headers,
                reason=reason,
                source=routing_key,
                exchange=str(delivery.get("exchange") or CHANGES_EXCHANGE),
                routing_key=routing_key,
                attempts=1,
                correlation_id=correlation_id,
            )
        except Exception:
            log.exception(
                "dead letter not published; rejecting to the queue's dead-letter exchange"
            )
            message.reject_log_error(log, self.connection_errors)
            return
        message.ack()
