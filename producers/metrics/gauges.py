"""The controller's gauges, refreshed from its loop every REFRESH_S at most.

Each refresh costs a bounded amount whatever the load: one GROUP BY over the rollouts
(`provision_rollouts`), the driver's in-memory counts (`provision_in_flight`), and one
passive `queue.declare` per queue (`provision_queue_depth`): the fixed queues plus the
change queue of each region known (the inventory's and those seen in rollouts), at most
MAX_REGIONS of them. A refresh that fails for a reason of its own is logged and skipped;
a lost service is raised, as everywhere in the loop.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from typing import Any

import pika.exceptions

from broker_config import DEAD_QUEUE, EVENTS_QUEUE, RESULTS_QUEUE, region_queue
from contracts.metrics import IN_FLIGHT, MAX_REGIONS, QUEUE_DEPTH, ROLLOUT_STATES, ROLLOUTS
from producers.messaging.failures import infrastructure
from producers.metrics.registry import Exported, exported, regions
from producers.rollouts.in_flight import InFlight
from producers.store import tallies
from producers.store.database import Database

log = logging.getLogger("provision.metrics")

#: Seconds between two refreshes of the controller's gauges.
REFRESH_S = 2.0
#: Queues measured whatever the regions.
FIXED_QUEUES = (RESULTS_QUEUE, EVENTS_QUEUE, DEAD_QUEUE)


class ControllerGauges:
    """Sets the controller's gauges from the record, the driver and the broker."""

    def __init__(
        self, metrics: Exported, connection: Any, db: Database, in_flight: InFlight
    ) -> None:
        self.metrics = metrics
        self.connection = connection
        self.db = db
        self.in_flight = in_flight
        self._channel: Any = None
        self._due = 0.0

    def tick(self) -> None:
        """Refresh every gauge if REFRESH_S has passed since the last refresh."""
        now = time.monotonic()
        if now < self._due:
            return
        self._due = now + REFRESH_S
        try:
            self.refresh()
        except infrastructure():
            raise
        except Exception:
            log.exception("the controller's gauges were not refreshed")

    def refresh(self) -> None:
        with self.db.connection() as conn:
            states = tallies.rollouts_by_state(conn)
            known = tallies.push_regions(conn, MAX_REGIONS)
        for state in ROLLOUT_STATES:
            self.metrics[ROLLOUTS].labels(state).set(states.get(state, 0))
        for region in known:
            regions(region)
        counts: Counter[str] = Counter()
        for region, count in self.in_flight.per_region().items():
            counts[regions(region)] += count
        for label in {*regions.seen(), *counts}:
            self.metrics[IN_FLIGHT].labels(label).set(counts.get(label, 0))
        for queue in (*FIXED_QUEUES, *(region_queue(r) for r in regions.seen())):
            self._depth(queue)

    def _depth(self, queue: str) -> None:
        """Set one queue's depth; a queue that does not exist has no series."""
        gauge = self.metrics[QUEUE_DEPTH]
        if self._channel is None or not self._channel.is_open:
            self._channel = self.connection.channel()
        try:
            frame = self._channel.queue_declare(queue, passive=True)
        except pika.exceptions.ChannelClosedByBroker:  # 404: the queue is not there (yet)
            self._channel = None
            with contextlib.suppress(KeyError):
                gauge.remove(queue)
            return
        gauge.labels(queue).set(frame.method.message_count)


def controller_gauges(
    connection: Any, db: Database, in_flight: InFlight
) -> ControllerGauges | None:
    """The controller's gauges on this connection, or None when it serves no metrics."""
    metrics = exported()
    if metrics is None or ROLLOUTS not in metrics:
        return None
    return ControllerGauges(metrics, connection, db, in_flight)
