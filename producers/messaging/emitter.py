"""Publishing change events to `provision.events`, as any other service would."""

from __future__ import annotations

from typing import Any

from broker_config import EVENTS_EXCHANGE
from broker_config.connections import speaks_as
from contracts import limits
from contracts.events import ChangeEvent
from contracts.telemetry import ATTR_CHANGE_ID, inject, setup_tracing, tracer
from producers.errors import PublishError


def publish_event(connection: Any, event: ChangeEvent, routing_key: str = "apply") -> None:
    """Publish one event, confirmed, persistent and mandatory (no queue bound: an error)."""
    import pika
    import pika.exceptions

    body = event.model_dump_json().encode()
    # The controller would refuse it: refuse it here (exit 2), before publishing.
    limits.check_json("change event", body, limits.EVENT_BYTES, "EVENT_BYTES")
    setup_tracing("provision-cli")
    channel = connection.channel()
    channel.confirm_delivery()
    with tracer().start_as_current_span("provision.event") as span:
        span.set_attribute(ATTR_CHANGE_ID, event.change_id)
        headers: dict[str, Any] = {}
        inject(headers)
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
