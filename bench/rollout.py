"""Benchmark 6: a rollout of thousands of targets through the controller, against the direct
fan-out of the same targets in the same run.

The rollout goes the way an operator's goes: a change event on `provision.events` selects the
targets from the inventory in PostgreSQL, and the controller plans waves `[1, "1%", "10%",
"100%"]` and paces them with `max_in_flight` per region; it is timed from the event's publish
to the last outcome recorded. The fan-out publishes the same targets straight to the region
(`publish_change`), so `rollout_vs_fanout` is what the controller's planning, pacing, wave
gating and bookkeeping cost. The controller's CPU seconds per thousand requests say whether
it scales with the targets (a cursor per wave) or with targets times ticks (a rescan).
"""

from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path

import psutil

from bench.errors import BenchError
from bench.pipeline import ISSUER, file_change, fleet, run_change, start, wait_done
from bench.plan import Plan
from bench.processes import check, supervisor, wait_for_consumers
from bench.sandbox import Sandbox, sandbox
from bench.section import Section
from bench.stats import median, paired_ratio
from broker_config import EVENTS_QUEUE, ROLLOUTS_QUEUE, Endpoints
from broker_config.connections import connect_broker
from contracts import FileSpec, Selector
from contracts.changes import utcnow
from contracts.events import ChangeEvent, RolloutPolicy
from contracts.inventory import Inventory
from contracts.signatures import load_private_key
from producers.messaging.emitter import publish_event
from producers.processes import commands
from producers.processes.supervisor import Child
from producers.records.inventory import InventoryStore
from producers.records.ledger import Ledger
from producers.store.database import Database

log = logging.getLogger("bench")

REGION = "roll"
WAVES: tuple[int | str, ...] = (1, "1%", "10%", "100%")
MAX_IN_FLIGHT = 500
#: Seconds to wait for the controller to book a change after its event is published.
BOOKED_S = 60.0


def _cpu_s(child: Child) -> float:
    times = psutil.Process(child.proc.pid).cpu_times()
    return float(times.user + times.system)


def _event(label: str, version: str) -> ChangeEvent:
    content = f"# managed by provisioning; rollout version {version}\n" + "key = value\n" * 8
    return ChangeEvent(
        event_id=uuid.uuid4(),
        issued_by=ISSUER,
        issued_at=utcnow(),
        selector=Selector(labels={"set": label}),
        resources=(FileSpec(path="/etc/bench/app.conf", content=content, mode="0644"),),
        rollout=RolloutPolicy(waves=WAVES, max_in_flight=MAX_IN_FLIGHT),
    )


def emit(box: Sandbox, event: ChangeEvent) -> None:
    """Publish the change event signed, as `provision apply` does (the sandbox's operator
    key is registered with a scope that grants everything)."""
    connection = connect_broker(Endpoints(box.broker_url, box.redis_url))
    try:
        publish_event(connection, event, key=load_private_key(box.signing_key))
    finally:
        connection.close()


def _wait_booked(db: Database, change_id: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        with db.connection() as conn:
            row = conn.execute("SELECT 1 FROM changes WHERE change_id = %s", (change_id,))
            if row.fetchone() is not None:
                return
        if time.monotonic() > deadline:
            raise BenchError(f"rollout {change_id}: not booked by the controller in {timeout_s}s")
        time.sleep(0.02)


def run_rollout(
    box: Sandbox, db: Database, controller: Child, label: str, total: int, version: str, t: float
) -> tuple[float, float]:
    """Seconds from the event's publish to the last outcome, and the controller's CPU seconds."""
    event = _event(label, version)
    cpu = _cpu_s(controller)
    started = time.perf_counter()
    emit(box, event)
    _wait_booked(db, event.change_id, BOOKED_S)
    counts = wait_done(Ledger(db), event.change_id, total, t)
    elapsed = time.perf_counter() - started
    bad = {k: v for k, v in counts.items() if k in ("failed", "rejected", "not_ready") and v}
    if bad:
        raise BenchError(f"rollout {event.change_id}: targets not converged: {bad}")
    return elapsed, _cpu_s(controller) - cpu


def measure(plan: Plan, redis_db: int, workdir: Path) -> Section:
    n = plan.rollout_targets
    timeout_s = 120 + n / 10
    rollout_s: list[float] = []
    fanout_s: list[float] = []
    cpu_per_k: list[float] = []
    with (
        sandbox("rollout", redis_db) as box,
        supervisor(workdir / "logs" / "roll") as children,
        box.database() as db,
    ):
        endpoints = Endpoints(box.broker_url, box.redis_url)
        start(children, box, REGION, plan.concurrency, workdir)
        controller = children.start("controller", commands.controller_argv(), box.env)
        wait_for_consumers(children, box.broker_url, [EVENTS_QUEUE, ROLLOUTS_QUEUE])
        main = fleet(workdir / "roll", REGION, n)
        warm = fleet(workdir / "roll-warm", REGION, plan.warmup_n, prefix="w")
        labelled = [t.model_copy(update={"labels": {"set": "main"}}) for t in main]
        labelled += [t.model_copy(update={"labels": {"set": "warm"}}) for t in warm]
        InventoryStore(db).load(Inventory(targets=tuple(labelled)))
        run_rollout(box, db, controller, "warm", len(warm), "warm", timeout_s)
        for rep in range(plan.rollout_reps):
            runs = ("rollout", "fanout") if rep % 2 == 0 else ("fanout", "rollout")
            for kind in runs:
                if kind == "rollout":
                    seconds, cpu = run_rollout(box, db, controller, "main", n, f"r{rep}", timeout_s)
                    rollout_s.append(seconds)
                    cpu_per_k.append(cpu / n * 1000)
                else:
                    change = file_change(main, f"f{rep}")
                    fanout_s.append(run_change(change, endpoints, db, f"roll-f{rep}", timeout_s))
                log.info("rollout rep %d %s: %d targets", rep + 1, kind, n)
            check(children)
    return Section(
        values={
            "rollout_targets": float(n),
            "rollout_s": median(rollout_s),
            "rollout_fanout_s": median(fanout_s),
            "rollout_vs_fanout": paired_ratio(rollout_s, fanout_s),
            "controller_cpu_s_per_1k": median(cpu_per_k),
        },
        detail={
            "rollout": {
                "targets": n,
                "waves": list(WAVES),
                "max_in_flight": MAX_IN_FLIGHT,
                "rollout_s": rollout_s,
                "fanout_s": fanout_s,
                "controller_cpu_s_per_1k": cpu_per_k,
            }
        },
    )
