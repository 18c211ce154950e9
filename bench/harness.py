"""One run: every benchmark in turn, each on its own vhost, Redis database and PostgreSQL
database, into one result.

A benchmark that cannot finish leaves its keys null with the reason in `notes`; the others
still run. Order matters: throughput first, since latency paces itself at half the
pipeline's measured rate, and the fan-out's ideal is the no-op rate.
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import subprocess
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pika.exceptions
import psycopg
import redis

from bench import convergence, fanout, latency, outcomes, peers, rollout, throughput
from bench.errors import BenchError, ServiceLost
from bench.figures import judge
from bench.keys import ALL_KEYS, KEYS
from bench.plan import Plan
from bench.sandbox import remove_stale_vhosts
from bench.section import Section
from producers.processes.supervisor import ChildDied
from producers.store.errors import DatabaseUnreachable

log = logging.getLogger("bench")

BENCHMARKS = tuple(KEYS)


#: Errors that mean a service went away under us, not that our code failed.
LOST = (
    ServiceLost,
    redis.ConnectionError,
    pika.exceptions.AMQPConnectionError,
    DatabaseUnreachable,
    psycopg.OperationalError,
)


def _attempt(name: str, run: Callable[[], Section]) -> Section:
    """Run one benchmark, once more if RabbitMQ, Redis or PostgreSQL went away while it ran."""
    try:
        return run()
    except LOST as exc:
        log.warning("%s: a service went away (%s); running it once more", name, exc)
    section = run()
    section.notes[name] = "run twice: a service went away during the first attempt"
    return section


def _guarded(name: str, run: Callable[[], Section]) -> Section:
    """Run one benchmark; on failure its keys become null, with the reason as their note."""
    started = time.monotonic()
    log.info("%s: starting", name)
    try:
        section = _attempt(name, run)
    except (BenchError, ChildDied) as exc:
        reason = f"{name} not measured: {exc}"
        log.error("%s", reason)
        return Section(values=dict.fromkeys(k for k, _ in KEYS[name]), notes={name: reason})
    except Exception as exc:
        log.error("%s crashed:\n%s", name, traceback.format_exc())
        reason = f"{name} crashed: {type(exc).__name__}: {exc}"
        return Section(values=dict.fromkeys(k for k, _ in KEYS[name]), notes={name: reason})
    log.info("%s: done in %.0fs", name, time.monotonic() - started)
    section.detail.setdefault("durations_s", {})[name] = round(time.monotonic() - started, 1)
    return section


def _git_commit() -> str | None:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent,
    )
    return done.stdout.strip() or None


def run(
    plan: Plan,
    tools: peers.Tools,
    *,
    redis_db: int,
    only: tuple[str, ...] = BENCHMARKS,
    keep: bool = False,
) -> dict[str, Any]:
    """Every benchmark of `only`, in order; the results.json object.

    With `keep`, the scratch directory (every child's log) is left for a post-mortem.
    """
    started = time.monotonic()
    stale = remove_stale_vhosts()
    if stale:
        log.info("removed vhosts and databases left by killed runs: %s", ", ".join(stale))
    total = Section(values=dict.fromkeys(ALL_KEYS))
    durations: dict[str, float] = {}
    scratch = Path(tempfile.mkdtemp(prefix="provision-bench-"))
    try:
        workdir = scratch

        def step(name: str, body: Callable[[], Section]) -> None:
            if name not in only:
                total.notes[name] = f"{name} not run (--only)"
                return
            section = _guarded(name, body)
            durations.update(section.detail.pop("durations_s", {}))
            total.merge(section)

        step("throughput", lambda: throughput.measure(plan, redis_db, workdir / "tput"))
        noop_rate = total.values.get("celery_noop_per_s")
        e2e_rate = total.values.get("e2e_changes_per_s")
        step("latency", lambda: latency.measure(plan, redis_db, workdir / "lat", e2e_rate))
        step("convergence", lambda: convergence.measure(plan, workdir / "conv", tools))
        step("fanout", lambda: fanout.measure(plan, redis_db, workdir / "fan", noop_rate))
        step("rollout", lambda: rollout.measure(plan, redis_db, workdir / "roll"))
        step("outcomes", lambda: outcomes.measure(plan, redis_db, workdir / "out"))
    finally:
        if keep:
            log.info("kept the scratch directory and logs: %s", scratch)
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    values = {key: total.values.get(key) for key in ALL_KEYS}
    values |= {k: v for k, v in total.values.items() if k not in values}
    notes = dict(total.notes)
    for key, value in values.items():
        if value is None and key not in notes:
            bench = next(name for name, rows in KEYS.items() if key in dict(rows))
            notes[key] = notes.get(bench, "not measured")
    if plan.mode == "smoke":
        notes["sizes"] = "smoke run: sizes scaled down, key names keep the full sizes"
    return {
        **values,
        "figures": judge(values),
        "notes": notes,
        "mode": plan.mode,
        "plan": plan.as_json(),
        "meta": {
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "duration_s": round(time.monotonic() - started, 1),
            "durations_s": durations,
            "commit": _git_commit(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_avg_1m": os.getloadavg()[0],
            "peers": tools.versions,
        },
        "detail": total.detail,
    }
