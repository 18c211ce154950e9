"""The Prometheus metrics our processes export: names, labels, help texts and label values.

Data only, no prometheus_client: the controller and the aggregator register these in
`producers.metrics`, the workers in `workers.delivery.metrics`, the README lists them and the
tests scrape for them. Every label value comes from a fixed vocabulary (or, for regions and
queues, a capped set of well-formed words), kept in `labels` and taken from here: nothing a
message says can create a new series, so a hostile message cannot grow a process's memory
or a scraper's storage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from contracts.labels import (
    CHECKIN_RESULTS,
    DEAD_LETTER_REASONS,
    MAX_REGIONS,
    OTHER,
    OUTCOME_STATUSES,
    RETRY_REASONS,
    ROLLOUT_STATES,
    CappedLabel,
    dead_letter_reason,
    in_vocabulary,
    retry_reason,
)

#: The label vocabularies and their helpers live in `labels`; every exporter (and its tests)
#: takes them from here, beside the metrics they label.
__all__ = [
    "AGGREGATOR",
    "CHECKINS",
    "CHECKIN_RESULTS",
    "CONTROLLER",
    "CONVERGE_SECONDS",
    "DEAD_LETTERS",
    "DEAD_LETTER_REASONS",
    "IN_FLIGHT",
    "MAX_REGIONS",
    "METRICS",
    "OTHER",
    "OUTCOMES",
    "OUTCOME_STATUSES",
    "QUEUE_DEPTH",
    "QUEUE_WAIT_SECONDS",
    "RETRIES",
    "RETRY_REASONS",
    "ROLLOUTS",
    "ROLLOUT_STATES",
    "WORKER",
    "CappedLabel",
    "Kind",
    "Metric",
    "dead_letter_reason",
    "in_vocabulary",
    "retry_reason",
]

Kind = Literal["counter", "gauge", "histogram"]

#: The processes that export metrics, as the README and `exported_by` name them.
CONTROLLER, AGGREGATOR, WORKER = "controller", "aggregator", "worker"


@dataclass(frozen=True)
class Metric:
    """One metric: its full exposed name, kind, help text, label names and exporters."""

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    exported_by: tuple[str, ...] = ()
    #: Histogram bucket upper bounds in seconds (histograms only).
    buckets: tuple[float, ...] = ()
    #: The whole vocabulary of a one-label metric: each value's series exists from the
    #: start (at 0), so a rate over it never starts from a missing series.
    values: tuple[str, ...] = ()


# -- the metrics ---------------------------------------------------------------------------

OUTCOMES = Metric(
    "provision_outcomes_total",
    "counter",
    "Outcomes by status and region. Worker: outcomes it published (a redelivery re-publishes "
    "its recorded outcome, and counts again). Aggregator: new outcomes it committed to the "
    "system of record (a repeated outcome id counts once): the count of record.",
    ("status", "region"),
    (WORKER, AGGREGATOR),
)
RETRIES = Metric(
    "provision_retries_total",
    "counter",
    "Requests sent back to the queue to be tried again, by reason.",
    ("reason",),
    (WORKER,),
    values=RETRY_REASONS,
)
DEAD_LETTERS = Metric(
    "provision_dead_letters_total",
    "counter",
    "Messages this process published to provision.dead, by kind of reason.",
    ("reason",),
    (CONTROLLER, AGGREGATOR, WORKER),
    values=DEAD_LETTER_REASONS,
)
CONVERGE_SECONDS = Metric(
    "provision_converge_seconds",
    "histogram",
    "Seconds one engine run took to converge one request's target (checks and resources).",
    exported_by=(WORKER,),
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0),
)
QUEUE_WAIT_SECONDS = Metric(
    "provision_queue_wait_seconds",
    "histogram",
    "Seconds from a request's publication (its issued_at) to a worker starting it; first "
    "deliveries only (a retry waits its backoff on purpose, a redelivery its worker's death).",
    exported_by=(WORKER,),
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)
QUEUE_DEPTH = Metric(
    "provision_queue_depth",
    "gauge",
    "Messages ready in a queue (passive queue.declare, refreshed every few seconds): each "
    "known region's change queue, provision.results, provision.events and provision.dead.",
    ("queue",),
    (CONTROLLER,),
)
IN_FLIGHT = Metric(
    "provision_in_flight",
    "gauge",
    "Requests of active rollouts published and not yet answered by an outcome, per region.",
    ("region",),
    (CONTROLLER,),
)
ROLLOUTS = Metric(
    "provision_rollouts",
    "gauge",
    "Rollouts in each state, from the system of record.",
    ("state",),
    (CONTROLLER,),
    values=ROLLOUT_STATES,
)
CHECKINS = Metric(
    "provision_checkins_total",
    "counter",
    "Pull check-ins answered by the controller's desk, by result.",
    ("result",),
    (CONTROLLER,),
    values=CHECKIN_RESULTS,
)

#: Every metric, in the README's order.
METRICS: tuple[Metric, ...] = (
    OUTCOMES,
    RETRIES,
    DEAD_LETTERS,
    CONVERGE_SECONDS,
    QUEUE_WAIT_SECONDS,
    QUEUE_DEPTH,
    IN_FLIGHT,
    ROLLOUTS,
    CHECKINS,
)
