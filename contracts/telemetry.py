"""Trace names and W3C trace-context propagation through message headers.

Both planes put `traceparent` in AMQP headers and read it back, so one trace follows a
change from the CLI through the worker to the aggregator.
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

_configured = False


def setup_tracing(service: str) -> None:
    """Install an SDK tracer provider once per process, so trace ids exist and propagate.

    Spans are exported to the console only when PROVISION_TRACE_CONSOLE=1; wiring an OTLP
    exporter is the deployment's choice (OTEL_* variables), not ours.
    """
    global _configured
    if _configured:
        return
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    if os.environ.get("PROVISION_TRACE_CONSOLE") == "1":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
    _configured = True


def tracer() -> trace.Tracer:
    return trace.get_tracer("provisioning")


def inject(headers: MutableMapping[str, Any]) -> None:
    """Write the current trace context (`traceparent`, `tracestate`) into message headers."""
    propagate.inject(headers)


@contextmanager
def span_from(headers: Mapping[str, Any] | None, name: str, **attributes: str) -> Iterator[Any]:
    """A consumer span that continues the trace carried in `headers`."""
    context = propagate.extract(dict(headers or {}))
    with tracer().start_as_current_span(
        name, context=context, kind=trace.SpanKind.CONSUMER, attributes=attributes
    ) as span:
        yield span


def current_trace_id() -> str | None:
    """The 32-hex-digit id of the active trace, or None outside any trace."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
