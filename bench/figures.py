"""The figures to reach (issue 4), each judged pass, fail or not measured."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.stats import ratio


@dataclass(frozen=True)
class Figure:
    """One target: `measure(results) op limit`, e.g. e2e_vs_celery_noop >= 0.7."""

    name: str
    text: str
    limit: float
    op: Callable[[float, float], bool]
    measure: Callable[[dict[str, Any]], float | None]

    def judge(self, results: dict[str, Any]) -> dict[str, Any]:
        value = self.measure(results)
        return {
            "target": self.text,
            "value": value,
            "pass": None if value is None else bool(self.op(value, self.limit)),
        }


def _key(name: str) -> Callable[[dict[str, Any]], float | None]:
    return lambda results: results.get(name)


def _over(top: str, bottom: str) -> Callable[[dict[str, Any]], float | None]:
    return lambda results: ratio(results.get(top), results.get(bottom))


GE, LE = operator.ge, operator.le

FIGURES = (
    Figure("e2e_vs_celery_noop", "e2e_vs_celery_noop >= 0.7", 0.7, GE, _key("e2e_vs_celery_noop")),
    Figure("e2e_vs_floor_chain", "e2e_vs_floor_chain >= 0.8", 0.8, GE, _key("e2e_vs_floor_chain")),
    Figure("latency_p99_vs_noop", "latency_p99_vs_noop <= 3", 3.0, LE, _key("latency_p99_vs_noop")),
    Figure("rerun_vs_floor", "rerun_vs_floor <= 5", 5.0, LE, _key("rerun_vs_floor")),
    Figure("first_vs_pyinfra", "first_vs_pyinfra >= 20", 20.0, GE, _key("first_vs_pyinfra")),
    Figure("rerun_vs_pyinfra", "rerun_vs_pyinfra >= 50", 50.0, GE, _key("rerun_vs_pyinfra")),
    Figure("fanout_vs_ideal", "fanout_vs_ideal <= 1.5", 1.5, LE, _key("fanout_vs_ideal")),
    Figure("rollout_vs_fanout", "rollout_vs_fanout <= 1.3", 1.3, LE, _key("rollout_vs_fanout")),
    Figure(
        "worker_rss_growth",
        "worker_rss_after_mb <= 1.1 x worker_rss_idle_mb",
        1.1,
        LE,
        _over("worker_rss_after_mb", "worker_rss_idle_mb"),
    ),
)


def judge(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every figure with its value and pass (True), fail (False) or not measured (None)."""
    return {figure.name: figure.judge(results) for figure in FIGURES}
