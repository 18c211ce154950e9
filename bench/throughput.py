"""Benchmark 1: N one-file changes through the whole pipeline, against plain Celery no-op
tasks, a raw pika two-hop chain and the floor chain (the raw chain plus the essential I/O of
one change: `bench.floor`), on the same broker, worker count and settings.

The four paths run in turn within each repetition (the order rotates), so slow moments
of a shared machine fall on all of them; ratios are medians of per-repetition ratios.
"""

from __future__ import annotations

import logging
from pathlib import Path

from bench import baselines
from bench.pipeline import file_change, fleet, run_change, start
from bench.plan import Plan
from bench.processes import check, supervisor
from bench.sandbox import sandbox
from bench.section import Section
from bench.stats import median, paired_ratio
from broker_config import Endpoints

log = logging.getLogger("bench")

REGION = "tput"
PATHS = ("e2e", "noop", "raw", "floor")


def measure(plan: Plan, redis_db: int, workdir: Path) -> Section:
    """Messages per second of each path, per repetition, and their medians and ratios."""
    n = plan.throughput_n
    timeout_s = 60 + n / 20  # far beyond any sane rate; a hang must not stall the run
    rates: dict[str, list[float]] = {path: [] for path in PATHS}
    with (
        sandbox("throughput", redis_db) as box,
        supervisor(workdir / "logs" / "tput") as children,
        box.database() as db,
    ):
        endpoints = Endpoints(box.broker_url, box.redis_url)
        start(children, box, REGION, plan.concurrency, workdir)
        baselines.start_noop(children, box, plan.concurrency)
        baselines.start_chain(children, box, plan.concurrency)
        baselines.start_floor(children, box, plan.concurrency, workdir / "floor")
        targets = fleet(workdir / "tput", REGION, n)
        warm = fleet(workdir / "tput-warm", REGION, plan.warmup_n, prefix="w")

        def run(path: str, tag: str, count: int) -> float:
            if path == "e2e":
                chosen = warm if tag.startswith("warm") else targets
                return run_change(file_change(chosen, tag), endpoints, db, f"tput-{tag}", timeout_s)
            if path == "noop":
                return baselines.run_noop(box, tag, count, timeout_s)
            if path == "floor":
                return baselines.run_floor(box, tag, count, timeout_s)
            return baselines.run_chain(box, tag, count, timeout_s)

        for path in PATHS:
            run(path, "warm", plan.warmup_n)
        for rep in range(plan.throughput_reps):
            order = PATHS[rep % len(PATHS) :] + PATHS[: rep % len(PATHS)]
            for path in order:
                elapsed = run(path, f"r{rep}", n)
                rates[path].append(n / elapsed)
                log.info("throughput rep %d %s: %.0f/s", rep + 1, path, n / elapsed)
            check(children)
    return Section(
        values={
            "e2e_changes_per_s": median(rates["e2e"]),
            "celery_noop_per_s": median(rates["noop"]),
            "raw_chain_per_s": median(rates["raw"]),
            "floor_chain_per_s": median(rates["floor"]),
            "e2e_vs_celery_noop": paired_ratio(rates["e2e"], rates["noop"]),
            "e2e_vs_raw_chain": paired_ratio(rates["e2e"], rates["raw"]),
            "e2e_vs_floor_chain": paired_ratio(rates["e2e"], rates["floor"]),
        },
        detail={"throughput": {"n": n, "per_s": rates}},
    )
