"""The timer sweep drops cancelled entries from kombu's timer heap and keeps the rest in
order, and the worker's blueprint runs it on the event loop's own timer."""

from __future__ import annotations

import subprocess
import sys
from time import monotonic
from types import SimpleNamespace

from kombu.asynchronous import Hub
from kombu.asynchronous.timer import Timer

from workers.delivery.app import app
from workers.delivery.timer_sweep import SWEEP_S, TimerSweep, sweep


def _due(timer: Timer) -> list[int]:
    """The arguments of every due entry, in the order the event loop would run them."""
    fired: list[int] = []
    for _delay, entry in timer:
        if entry is None:
            return fired
        fired.append(entry.args[0])
    return fired


def test_sweep_drops_the_cancelled_and_keeps_the_rest_in_order() -> None:
    timer = Timer()
    now = monotonic()
    # Armed in a scrambled order, due in the past so that iterating fires them all.
    entries = {i: timer.call_at(now - 100 + (i * 7) % 50, lambda i: None, (i,)) for i in range(50)}
    for i, entry in entries.items():
        if i % 3:
            entry.cancel()
    assert sweep(timer) == len([i for i in entries if i % 3])
    assert len(timer.queue) == len([i for i in entries if not i % 3])
    expected = sorted((i for i in entries if not i % 3), key=lambda i: (i * 7) % 50)
    assert _due(timer) == expected
    assert sweep(timer) == 0


def test_a_heap_of_live_entries_is_left_as_it_is() -> None:
    timer = Timer()
    for i in range(5):
        timer.call_after(3600 + i, lambda i: None, (i,))
    heap = timer._queue
    before = list(heap)
    assert sweep(timer) == 0
    assert timer._queue is heap and heap == before


def test_the_worker_sweeps_its_event_loops_timer_until_it_stops() -> None:
    assert TimerSweep in app.steps["worker"]
    hub = Hub(Timer())
    worker = SimpleNamespace(hub=hub)
    step = TimerSweep(worker)
    step.start(worker)
    step.start(worker)  # a second start (a blueprint restart) arms no second sweep
    armed = [item.entry for item in hub.timer.queue if not item.entry.canceled]
    assert len(armed) == 1 and armed[0] is step.entry
    assert hub.timer.queue[0].eta > monotonic() + SWEEP_S - 5
    step.stop(worker)
    assert armed[0].canceled and step.entry is None


_BUILT = """
from workers.delivery.app import configure
from workers.delivery.timer_sweep import TimerSweep
app = configure("sweep")
for pool in ("prefork", "threads", "solo"):
    worker = app.WorkController(pool_cls=pool, concurrency=1, hostname=pool + "@sweep")
    step = next(s for s in worker.steps if isinstance(s, TimerSweep))
    step.start(worker)
    armed = [i.entry for i in worker.hub.timer.queue if i.entry is step.entry]
    print(pool, len(armed))
    step.stop(worker)
"""


def test_a_real_worker_of_every_pool_runs_the_sweep_on_its_own_loop() -> None:
    """Celery's own WorkController, built (not started: no broker) in a process of its own,
    includes the step and arms it on the timer of the hub its pool and consumer use."""
    done = subprocess.run(
        [sys.executable, "-c", _BUILT], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["prefork", "1", "threads", "1", "solo", "1"]
