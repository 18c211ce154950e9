"""The timer sweep: cancelled time limits leave the worker's event loop, not only at their due time.

Every request gets a Celery time limit from its deadline (`admission`), up to an hour
ahead. The prefork pool arms it as an entry in the event loop's timer heap when a child
takes the task, and cancels it when the task ends; but kombu's timer only marks a
cancelled entry and leaves it in the heap until it comes due (Celery issues 1129, 1427,
5200). So the worker's main process kept about 600 bytes per finished request for up to
an hour: measured with 2 children, +1.15 MiB per 2,000 changes with no end in sight, which
at 150 changes/s would reach about 300 MiB before it levels off. The sweep drops cancelled
entries every `SWEEP_S`, so the heap holds what is armed and what finished in the last
interval.
"""

from __future__ import annotations

import heapq
import logging
from typing import Any

from celery import bootsteps

log = logging.getLogger("provision.worker")

#: Seconds between sweeps: at most this long's worth of finished requests stays in the heap.
SWEEP_S = 30.0


def sweep(timer: Any) -> int:
    """Drop the cancelled entries of a kombu timer's heap, in place; how many went.

    In place, because the event loop's scheduler holds this very list; run from the loop
    itself (a timer entry), so nothing else touches the heap meanwhile.
    """
    heap = timer._queue
    live = [item for item in heap if not getattr(item[2], "canceled", False)]
    dropped = len(heap) - len(live)
    if dropped:
        heap[:] = live
        heapq.heapify(heap)
    return dropped


class TimerSweep(bootsteps.StartStopStep):
    """A worker step: sweeps the event loop's timer every `SWEEP_S`. Every pool runs on the
    loop with RabbitMQ; a worker without one (another transport) has no heap to sweep."""

    requires = ("celery.worker.components:Hub",)

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self.entry: Any = None

    def start(self, worker: Any) -> None:
        hub = getattr(worker, "hub", None)
        if hub is not None and self.entry is None:
            self.entry = hub.call_repeatedly(SWEEP_S, sweep, hub.timer)

    def stop(self, worker: Any) -> None:
        if self.entry is not None:
            self.entry.cancel()
            self.entry = None
