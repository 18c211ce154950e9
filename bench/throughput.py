"""Benchmark 1: N one-file changes through the whole pipeline, against plain Celery no-op
tasks, a raw pika two-hop chain and the floor chain (the raw chain plus the essential I/O of
one change: `bench.floor`), on the same broker, worker count and settings.

The four paths run in turn within each repetition (the order rotates), so slow moments
of a shared machine fall on all of them; ratios are medians of per-repetition ratios.

Around each timed run the CPU of every process involved is read (`bench.cpu`): on this
CPU-bound machine the throughput ratios follow the CPU ratios, and the roles say where the
difference goes. A path's figure sums its own processes, the publisher and the servers; the
other paths' processes, idle meanwhile, are in the detail but not in the sum.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench import baselines, cpu
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
#: The roles whose CPU a path's figure sums: its own processes, then those every path uses.
SUMMED = {
    "e2e": ("worker-parent", "worker-children", "aggregator"),
    "noop": ("noop-parent", "noop-children"),
    "raw": ("raw-hop", "raw-sink"),
    "floor": ("floor-hop", "floor-sink"),
}
SHARED = (cpu.PUBLISHER, *cpu.SERVERS)


def measure(plan: Plan, redis_db: int, workdir: Path) -> Section:
    """Messages per second of each path, per repetition, and their medians and ratios."""
    n = plan.throughput_n
    timeout_s = 60 + n / 20  # far beyond any sane rate; a hang must not stall the run
    rates: dict[str, list[float]] = {path: [] for path in PATHS}
    usage: dict[str, list[dict[str, cpu.RoleCpu]]] = {path: [] for path in PATHS}
    with (
        sandbox("throughput", redis_db) as box,
        supervisor(workdir / "logs" / "tput") as children,
        box.database() as db,
    ):
        endpoints = Endpoints(box.broker_url, box.redis_url)
        database = urlsplit(box.database_url).path.lstrip("/")
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
        ours = {child.proc.pid: name for name, child in children.children.items()}
        for rep in range(plan.throughput_reps):
            order = PATHS[rep % len(PATHS) :] + PATHS[: rep % len(PATHS)]
            for path in order:
                before = cpu.snapshot(ours, database)
                elapsed = run(path, f"r{rep}", n)
                usage[path].append(cpu.per_message(before, cpu.snapshot(ours, database), n))
                rates[path].append(n / elapsed)
                log.info("throughput rep %d %s: %.0f/s", rep + 1, path, n / elapsed)
            check(children)
    spent = {path: [_summed(path, roles) for roles in usage[path]] for path in PATHS}
    return Section(
        values={
            "e2e_changes_per_s": median(rates["e2e"]),
            "celery_noop_per_s": median(rates["noop"]),
            "raw_chain_per_s": median(rates["raw"]),
            "floor_chain_per_s": median(rates["floor"]),
            "e2e_vs_celery_noop": paired_ratio(rates["e2e"], rates["noop"]),
            "e2e_vs_raw_chain": paired_ratio(rates["e2e"], rates["raw"]),
            "e2e_vs_floor_chain": paired_ratio(rates["e2e"], rates["floor"]),
            "e2e_cpu_ms_per_change": median(spent["e2e"]),
            "celery_noop_cpu_ms_per_msg": median(spent["noop"]),
            "raw_chain_cpu_ms_per_msg": median(spent["raw"]),
            "floor_chain_cpu_ms_per_change": median(spent["floor"]),
            "e2e_cpu_vs_celery_noop": paired_ratio(spent["noop"], spent["e2e"]),
            "e2e_cpu_vs_floor": paired_ratio(spent["floor"], spent["e2e"]),
        },
        detail={"throughput": {"n": n, "per_s": rates, "cpu": _detail(usage, spent)}},
    )


def _summed(path: str, roles: dict[str, cpu.RoleCpu]) -> float:
    """CPU ms per message of one run of `path`: its own roles, the publisher, the servers."""
    return sum(roles[role].ms for role in (*SUMMED[path], *SHARED) if role in roles)


def _detail(
    usage: dict[str, list[dict[str, cpu.RoleCpu]]], spent: dict[str, list[float]]
) -> dict[str, Any]:
    """Per path: the roles its figure sums, that sum and every role's CPU per repetition."""
    return {
        "unit": "CPU ms per message (utime + stime from /proc; sys_ms: stime alone)",
        "ticks_per_s": cpu.TICKS_PER_S,
        "summed": {path: [*SUMMED[path], *SHARED] for path in PATHS},
        "ms_per_msg": {path: [round(ms, 4) for ms in spent[path]] for path in PATHS},
        "by_role": {path: cpu.by_role(usage[path]) for path in PATHS},
    }
