"""The benchmark harness at its smallest sizes: it runs, cleans up, and reports every key.

Benchmarks are not tests and CI does not run them; this smoke run only keeps the harness
from rotting. Its figures are meaningless at these sizes, so only their sanity is checked.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.figures import FIGURES
from bench.keys import ALL_KEYS
from bench.plan import SMOKE
from bench.throughput import SUMMED
from tests.isolation import REDIS_DBS, ROOT, need

SMOKE_REDIS_DB = REDIS_DBS["bench-smoke"]
PEER_KEYS = {
    "pyinfra_first_200_s",
    "pyinfra_rerun_200_s",
    "ansible_first_200_s",
    "ansible_rerun_200_s",
    "first_vs_pyinfra",
    "rerun_vs_pyinfra",
}
#: CPU per message of each throughput path and the ratios of the baselines' to the pipeline's.
CPU_KEYS = (
    "e2e_cpu_ms_per_change",
    "celery_noop_cpu_ms_per_msg",
    "raw_chain_cpu_ms_per_msg",
    "floor_chain_cpu_ms_per_change",
    "e2e_cpu_vs_celery_noop",
    "e2e_cpu_vs_floor",
)


def _bench_databases() -> set[str]:
    import psycopg

    from tests.databases import pg_admin_url

    with psycopg.connect(pg_admin_url()) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'provisioning_bench_%'"
        )
        return {row[0] for row in rows.fetchall()}


def _of_run(names: set[str] | list[str], pid: int) -> set[str]:
    """The names a bench run with this pid made (`bench-<name>-<pid>`, `..._<pid>`)."""
    return {name for name in names if name.endswith((f"-{pid}", f"_{pid}"))}


def _bench_vhosts() -> list[str]:
    ctl = shutil.which("rabbitmqctl")
    assert ctl is not None
    listed = subprocess.run([ctl, "-q", "list_vhosts"], capture_output=True, text=True)
    return [line for line in listed.stdout.split() if line.startswith("bench-")]


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_the_harness_runs_at_smoke_size_and_reports_every_key(
    services: dict[str, str], tmp_path: Path
) -> None:
    need(shutil.which("rabbitmqctl") is not None, "rabbitmqctl makes the benchmarks' vhosts")
    output = tmp_path / "results.json"
    argv = ["--smoke", "--json", "--output", str(output), "--redis-db", str(SMOKE_REDIS_DB)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **services},
        cwd=ROOT,
    )
    try:
        stdout, stderr = proc.communicate(timeout=170)
    finally:
        proc.kill()
    done = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)

    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert json.loads(output.read_text()) == result
    assert "figures to reach" in done.stdout, "the table comes before the JSON"
    missing = [key for key in ALL_KEYS if key not in result]
    assert not missing, f"keys missing from the JSON: {missing}"
    measured = {key: result[key] for key in ALL_KEYS if key not in PEER_KEYS}
    unmeasured = [key for key, value in measured.items() if value is None]
    assert not unmeasured, {key: result["notes"].get(key) for key in unmeasured}
    assert all(value > 0 for value in measured.values()), measured
    assert result["fanout_targets"] == SMOKE.fanout_targets
    assert result["latency_p50_ms"] <= result["latency_p99_ms"]
    assert result["celery_noop_p50_ms"] <= result["celery_noop_p99_ms"]
    for key in PEER_KEYS:
        assert result[key] is None and result["notes"][key], "a null says why"
    assert set(result["figures"]) == {figure.name for figure in FIGURES}
    assert all(f["pass"] in (True, False, None) for f in result["figures"].values())
    # Only this run's names (they end with its pid): a bench running beside the suite has its own.
    assert not _of_run(_bench_vhosts(), proc.pid), "the run removed the vhosts it made"
    assert not _of_run(_bench_databases(), proc.pid), "the run dropped the databases it made"
    assert result["aggregator_outcomes_per_s"] > 0 and result["aggregator_vs_raw_consume"] > 0
    assert all(result[key] > 0 for key in CPU_KEYS), {key: result[key] for key in CPU_KEYS}
    by_role = result["detail"]["throughput"]["cpu"]["by_role"]
    for path, own in SUMMED.items():
        assert {*own, "publisher"} <= set(by_role[path]), (path, by_role[path])
    assert sum(by_role["e2e"]["worker-children"]["ms"]) > 0, "the pool's CPU is read"
