"""Every key results.json carries, by benchmark, with its unit: the table's row order.

The throughput keys `*_cpu_ms_*` are CPU milliseconds per message across every process a
path involves (bench/cpu.py); `e2e_cpu_vs_*` divide a baseline's CPU per message by the
pipeline's. On a CPU-bound machine throughput ratios follow CPU ratios, so these bound what
`e2e_vs_celery_noop` and `e2e_vs_floor_chain` can reach until the pipeline's CPU falls.
"""

from __future__ import annotations

#: benchmark → ((key, unit), ...). Units: "/s", "ms", "s", "x" (a ratio), "MiB", "" (a count).
KEYS: dict[str, tuple[tuple[str, str], ...]] = {
    "throughput": (
        ("e2e_changes_per_s", "/s"),
        ("celery_noop_per_s", "/s"),
        ("raw_chain_per_s", "/s"),
        ("floor_chain_per_s", "/s"),
        ("e2e_vs_celery_noop", "x"),
        ("e2e_vs_raw_chain", "x"),
        ("e2e_vs_floor_chain", "x"),
        ("e2e_cpu_ms_per_change", "ms"),
        ("celery_noop_cpu_ms_per_msg", "ms"),
        ("raw_chain_cpu_ms_per_msg", "ms"),
        ("floor_chain_cpu_ms_per_change", "ms"),
        ("e2e_cpu_vs_celery_noop", "x"),
        ("e2e_cpu_vs_floor", "x"),
    ),
    "latency": (
        ("latency_rate_per_s", "/s"),
        ("latency_p50_ms", "ms"),
        ("latency_p99_ms", "ms"),
        ("celery_noop_p50_ms", "ms"),
        ("celery_noop_p99_ms", "ms"),
        ("latency_p99_vs_noop", "x"),
    ),
    "convergence": (
        ("converge_first_200_s", "s"),
        ("converge_rerun_200_s", "s"),
        ("converge_first_1000_s", "s"),
        ("converge_rerun_1000_s", "s"),
        ("converge_engine_rerun_1000_s", "s"),
        ("floor_1000_s", "s"),
        ("rerun_vs_floor", "x"),
        ("pyinfra_first_200_s", "s"),
        ("pyinfra_rerun_200_s", "s"),
        ("ansible_first_200_s", "s"),
        ("ansible_rerun_200_s", "s"),
        ("first_vs_pyinfra", "x"),
        ("rerun_vs_pyinfra", "x"),
    ),
    "fanout": (
        ("fanout_targets", ""),
        ("fanout_s", "s"),
        ("fanout_vs_ideal", "x"),
        ("worker_rss_idle_mb", "MiB"),
        ("worker_rss_after_mb", "MiB"),
    ),
    "rollout": (
        ("rollout_targets", ""),
        ("rollout_s", "s"),
        ("rollout_fanout_s", "s"),
        ("rollout_vs_fanout", "x"),
        ("controller_cpu_s_per_1k", "s"),
    ),
    "outcomes": (
        ("aggregator_outcomes_per_s", "/s"),
        ("raw_consume_per_s", "/s"),
        ("aggregator_vs_raw_consume", "x"),
    ),
}

ALL_KEYS: tuple[str, ...] = tuple(key for rows in KEYS.values() for key, _ in rows)
UNITS: dict[str, str] = {key: unit for rows in KEYS.values() for key, unit in rows}
