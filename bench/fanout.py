"""Benchmarks 4 and 5: one change to thousands of local targets in one region, and the
regional worker's memory (all its processes) at rest and after that fan-out.

The fan-out is published with `publish_change` (straight to the region, no rollout), and timed to
the last outcome in the ledger; the ideal is the same count at the no-op task rate.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from bench.pipeline import file_change, fleet, run_change, start
from bench.plan import Plan
from bench.processes import check, parent_rss_mb, pss_mb, rss_mb, supervisor
from bench.sandbox import sandbox
from bench.section import Section
from bench.stats import median, ratio
from broker_config import Endpoints

log = logging.getLogger("bench")

REGION = "fan"
#: Seconds the worker is left alone before its memory is read, so it is really at rest.
SETTLE_S = 2.0


def measure(plan: Plan, redis_db: int, workdir: Path, noop_per_s: float | None) -> Section:
    n = plan.fanout_targets
    timeout_s = 120 + n / 10
    seconds: list[float] = []
    with (
        sandbox("fanout", redis_db) as box,
        supervisor(workdir / "logs" / "fan") as children,
        box.database() as db,
    ):
        endpoints = Endpoints(box.broker_url, box.redis_url)
        worker = start(children, box, REGION, plan.concurrency, workdir)
        targets = fleet(workdir / "fan", REGION, n)
        time.sleep(SETTLE_S)
        idle_mb = rss_mb(worker)
        idle_pss = pss_mb(worker)
        idle_parent = parent_rss_mb(worker)
        warm = fleet(workdir / "fan-warm", REGION, plan.warmup_n, prefix="w")
        run_change(file_change(warm, "warm"), endpoints, db, "fan-warm", timeout_s)
        time.sleep(SETTLE_S)
        warm_mb = rss_mb(worker)
        for rep in range(plan.fanout_reps):
            change = file_change(targets, f"r{rep}")
            seconds.append(run_change(change, endpoints, db, f"fan-r{rep}", timeout_s))
            log.info("fan-out rep %d: %d targets in %.1fs", rep + 1, n, seconds[-1])
        check(children)
        time.sleep(SETTLE_S)
        after_mb = rss_mb(worker)
        after_pss = pss_mb(worker)
        after_parent = parent_rss_mb(worker)
    ideal = ratio(n, noop_per_s)
    fanout_s = median(seconds)
    section = Section(
        values={
            "fanout_targets": float(n),
            "fanout_s": fanout_s,
            "fanout_vs_ideal": ratio(fanout_s, ideal),
            "worker_rss_idle_mb": idle_mb,
            "worker_rss_after_mb": after_mb,
        },
        detail={
            "fanout": {"targets": n, "seconds": seconds, "ideal_s": ideal},
            "memory": {
                "rss_idle_mb": idle_mb,
                "rss_after_warmup_mb": warm_mb,
                "rss_after_mb": after_mb,
                "pss_idle_mb": idle_pss,
                "pss_after_mb": after_pss,
                "rss_parent_idle_mb": idle_parent,
                "rss_parent_after_mb": after_parent,
                "processes": plan.concurrency + 1,
            },
        },
    )
    if noop_per_s is None:
        section.notes["fanout_vs_ideal"] = "no-op throughput not measured, so no ideal"
    return section
