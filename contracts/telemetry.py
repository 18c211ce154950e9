"""Traces: one change is one trace, exported over OTLP/HTTP when the deployment asks for it.

Both planes put W3C `traceparent` in AMQP headers and read it back, so one trace follows a
change from the CLI through the controller and the worker to the aggregator. Every process
calls `setup_tracing` once at start (a prefork worker: in each child, after the fork); spans
are exported only when the standard OpenTelemetry variables name a collector
(`OTEL_EXPORTER_OTLP_ENDPOINT`, or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), to the console
with `PROVISION_TRACE_CONSOLE=1`, and nowhere otherwise. Span names and attributes follow
the OpenTelemetry messaging conventions, plus ours (`provision.*`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import propagate, trace

#: Span attribute names, one word per concept as everywhere else.
ATTR_CHANGE_ID = "provision.change_id"
ATTR_TARGET = "provision.target"
ATTR_REGION = "provision.region"
ATTR_STATUS = "provision.status"
ATTR_ATTEMPT = "provision.attempt"
ATTR_REASON = "provision.retry.reason"
ATTR_QUEUE_WAIT = "provision.queue_wait_s"
ATTR_WAVE = "provision.wave"
#: The OpenTelemetry messaging conventions.
MESSAGING_SYSTEM = "messaging.system"
MESSAGING_DESTINATION = "messaging.destination.name"
MESSAGING_MESSAGE_ID = "messaging.message.id"
MESSAGING_OPERATION = "messaging.operation.type"
MESSAGING_ROUTING_KEY = "messaging.rabbitmq.destination.routing_key"
MESSAGING_REDELIVERED = "messaging.rabbitmq.message.redelivered"

#: The variables that turn the OTLP/HTTP exporter on (the OpenTelemetry standard ones).
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")

_configured = False
#: Whether this process's spans are recorded (exported or printed); see `_sampler`.
_recording = False


def exporting() -> bool:
    """True when the environment names an OTLP collector and does not turn traces off."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return any(os.environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


#: How long a command (not a service) may spend exporting at its exit when the collector
#: does not answer, unless OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT says otherwise.
COMMAND_EXPORT_TIMEOUT_S = 2.0


def setup_tracing(service: str, *, command: bool = False) -> None:
    """Install an SDK tracer provider once per process, so trace ids exist and propagate,
    and export its spans in batches when `exporting()`.

    A prefork worker calls it in each child (`worker_process_init`), never in the parent,
    so each child's batch processor and its thread are made after the fork.
    `OTEL_SERVICE_NAME`, when set, names the service instead of `service`. A `command`
    (the CLI) gives up exporting after COMMAND_EXPORT_TIMEOUT_S, so an unreachable
    collector delays its exit by that much at most.
    """
    global _configured, _recording
    if _configured:
        return
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider

    named = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service}
    export = exporting()
    console = os.environ.get("PROVISION_TRACE_CONSOLE") == "1"
    _recording = export or console
    provider = TracerProvider(resource=Resource.create(named), sampler=_sampler(_recording))
    if export:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        timeouts = ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT")
        short = command and not any(os.environ.get(name) for name in timeouts)
        exporter = OTLPSpanExporter(timeout=COMMAND_EXPORT_TIMEOUT_S if short else None)
        provider.add_span_processor(BatchSpanProcessor(exporter))
    if console:
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
    _configured = True


def _sampler(recording: bool) -> Any:
    """What this process records. A process whose spans go nowhere records none: its
    spans still carry and hand on trace ids (`current_trace_id`, message headers), but
    attributes, events and span processors cost every request for nothing. One that
    exports records every span whatever its parent's flag says, so a trace begun by an
    operator's CLI that does not export is still recorded from the controller on;
    OTEL_TRACES_SAMPLER, when set, chooses instead."""
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON

    if not recording:
        return ALWAYS_OFF
    if os.environ.get("OTEL_TRACES_SAMPLER", "").strip():
        return None  # the SDK reads it
    return ALWAYS_ON


def tracing() -> bool:
    """True when this process records spans: `setup_tracing` ran, and they go somewhere
    (exported, or printed). Elsewhere a span would record nothing, so the engine opens none."""
    return _configured and _recording


def flush_tracing(timeout_s: float = 5.0) -> None:
    """Export every span still buffered (a prefork child calls this before it exits)."""
    provider = trace.get_tracer_provider()
    flush = getattr(provider, "force_flush", None)
    if flush is not None:
        flush(int(timeout_s * 1000))


_tracer: tuple[object, trace.Tracer] | None = None


def tracer() -> trace.Tracer:
    """Our tracer, made once per tracer provider: `get_tracer` builds a new one (and an
    instrumentation scope) on every call, a cost every span of every request paid."""
    global _tracer
    provider = trace.get_tracer_provider()
    if _tracer is None or _tracer[0] is not provider:
        _tracer = (provider, trace.get_tracer("provisioning"))
    return _tracer[1]


def inject(headers: MutableMapping[str, Any]) -> None:
    """Write the current trace context (`traceparent`, `tracestate`) into message headers."""
    propagate.inject(headers)


def _carrier(headers: Mapping[str, Any] | None) -> dict[str, str]:
    """Only the trace headers, and only as short strings: headers come from outside."""
    if not isinstance(headers, Mapping):
        return {}
    return {
        key: value
        for key in ("traceparent", "tracestate")
        if isinstance(value := headers.get(key), str) and len(value) <= 512
    }


def messaging(destination: str, message_id: str | None = None, **more: Any) -> dict[str, Any]:
    """The messaging-convention attributes of a RabbitMQ message, plus `more`."""
    attributes: dict[str, Any] = {MESSAGING_SYSTEM: "rabbitmq", MESSAGING_DESTINATION: destination}
    if message_id:
        attributes[MESSAGING_MESSAGE_ID] = message_id
    attributes.update({k: v for k, v in more.items() if v is not None})
    return attributes


@contextmanager
def sending(
    destination: str, message_id: str | None = None, **more: Any
) -> Iterator[dict[str, Any]]:
    """The PRODUCER span `send <destination>` of one publish (messaging attributes plus
    `more`); yields the headers that carry its context, to publish with the message."""
    attributes = messaging(destination, message_id, **more)
    name = f"send {destination}"
    with tracer().start_as_current_span(name, kind=trace.SpanKind.PRODUCER, attributes=attributes):
        headers: dict[str, Any] = {}
        inject(headers)
        yield headers


@contextmanager
def span_from(
    headers: Mapping[str, Any] | None,
    name: str,
    *,
    attributes: Mapping[str, Any] | None = None,
    kind: trace.SpanKind = trace.SpanKind.CONSUMER,
    **more: str,
) -> Iterator[Any]:
    """A span (a consumer's, by default) that continues the trace carried in `headers`."""
    context = propagate.extract(_carrier(headers))
    shown = {**(attributes or {}), **more}
    with tracer().start_as_current_span(name, context=context, kind=kind, attributes=shown) as span:
        yield span


def link_to(headers: Mapping[str, Any] | None) -> list[trace.Link]:
    """A link to the span whose context `headers` carry (none when they carry none)."""
    context = trace.get_current_span(propagate.extract(_carrier(headers))).get_span_context()
    return [trace.Link(context)] if context.is_valid else []


def current_trace_id() -> str | None:
    """The 32-hex-digit id of the active trace, or None outside any trace."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
