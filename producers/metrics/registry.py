"""The metrics of one control-plane process, and its endpoint.

Off unless `--metrics-port` (or PROVISION_METRICS_PORT) is given: until `serve` runs there
is nothing to count into and every function here returns at once, so a process without an
endpoint pays one test of a global (prometheus_client is imported by `serve` only). A
process registers only the metrics whose `exported_by` names it, in a registry of its own
(with the usual `process_*` metrics).
"""

from __future__ import annotations

import logging
from typing import Any

from broker_config import dead_letters
from contracts.errors import ContractError
from contracts.metrics import (
    CHECKINS,
    DEAD_LETTERS,
    MAX_REGIONS,
    METRICS,
    OUTCOME_STATUSES,
    OUTCOMES,
    CappedLabel,
    Metric,
    dead_letter_reason,
    in_vocabulary,
)

log = logging.getLogger("provision.metrics")

#: The regions one process labels on its own; the rest are `other`.
regions = CappedLabel(MAX_REGIONS)


class Exported:
    """The metrics one process exports, by name (`contracts.metrics.Metric.name`)."""

    def __init__(self, process: str, registry: Any) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        kinds: dict[str, Any] = {"counter": Counter, "gauge": Gauge, "histogram": Histogram}
        self.process = process
        self.registry = registry
        self._metrics: dict[str, Any] = {}
        for spec in _specs(process):
            extra = {"buckets": spec.buckets} if spec.kind == "histogram" else {}
            metric = kinds[spec.kind](spec.name, spec.help, spec.labels, registry=registry, **extra)
            for value in spec.values:
                metric.labels(value)  # every series of a fixed vocabulary exists at 0
            self._metrics[spec.name] = metric

    def __getitem__(self, spec: Metric) -> Any:
        return self._metrics[spec.name]

    def __contains__(self, spec: Metric) -> bool:
        return spec.name in self._metrics


def _specs(process: str) -> list[Metric]:
    """The metrics `process` (controller, aggregator) exports."""
    return [spec for spec in METRICS if process in spec.exported_by]


_exported: Exported | None = None


def serve(process: str, port: int, host: str) -> Exported:
    """Register `process`'s metrics and serve them on http://host:port/metrics (a thread).

    A port that cannot be bound is the command's error, naming the flag.
    """
    global _exported
    from prometheus_client import CollectorRegistry, ProcessCollector, start_http_server

    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    exported = Exported(process, registry)
    try:
        start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        reason = f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}"
        raise ContractError(f"provision {process}", [("--metrics-port", reason)]) from None
    if DEAD_LETTERS in exported:
        counter = exported[DEAD_LETTERS]
        dead_letters.observe(lambda reason: counter.labels(dead_letter_reason(reason)).inc())
    _exported = exported
    log.info("%s metrics on http://%s:%d/metrics", process, host, port)
    return exported


def exported() -> Exported | None:
    """This process's metrics, or None when it serves none."""
    return _exported


def outcome_recorded(status: str, routing_key: str) -> None:
    """One new outcome in the system of record; its region is its routing key's first word
    (`<region>.<environment>.<target>`), `other` for any other key."""
    if _exported is None or OUTCOMES not in _exported:
        return
    words = routing_key.split(".") if isinstance(routing_key, str) else []
    region = regions(words[0]) if len(words) == 3 else "other"
    _exported[OUTCOMES].labels(in_vocabulary(status, OUTCOME_STATUSES), region).inc()


def checkin(result: str) -> None:
    """One check-in answered by the desk (`contracts.metrics.CHECKIN_RESULTS`)."""
    if _exported is None or CHECKINS not in _exported:
        return
    _exported[CHECKINS].labels(in_vocabulary(result, CHECKINS.values)).inc()
