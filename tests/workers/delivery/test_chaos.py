"""The CI-sized fault-injection runs: a few hundred changes, worker kills, a broker and a
Redis restart, poison; and a PostgreSQL restart with a Redis FLUSHDB, after which every
record the system of record held must still be there. The full-size figures are the
harness's, run by hand (README)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.databases import pg_admin_url
from tests.isolation import REDIS_DBS, need, reachable, run_module


def chaos(flags: str, timeout_s: float = 240) -> dict[str, Any]:
    """Run the harness with `flags` (as typed on its command line) on the chaos group's Redis
    database; its JSON result, which must show a run that settled, lost nothing and applied
    nothing twice."""
    need(reachable(5672) and reachable(6379), "RabbitMQ and Redis are needed")
    pg_admin_url()  # PostgreSQL is usable (fails under CI, skips elsewhere)
    argv = [*flags.split(), "--json", "--redis-db", str(REDIS_DBS["chaos"])]
    done = run_module("bench.chaos", *argv, timeout_s=timeout_s)
    assert done.stdout.strip(), (
        f"chaos printed nothing (exit {done.returncode}):\n{done.stderr[-4000:]}"
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert done.returncode == (0 if result["ok"] else 1), done.stderr[-2000:]
    assert reachable(5672) and reachable(6379), "the services are left running"
    assert reachable(5432), "PostgreSQL is left running"
    assert result["settled"], result
    assert result["lost"] == 0 and result["duplicate_effects"] == 0, result
    assert result["ok"], result
    return result


@pytest.mark.slow
def test_chaos_loses_nothing_and_applies_nothing_twice(tmp_path: object) -> None:
    result = chaos(
        "--changes 300 --kills 2 --broker-restarts 1 --redis-restarts 1 --poison 10 --timeout 150"
    )
    assert result["kills"] == 2 and result["broker_restarts"] == 1, result
    assert result["redis_restarts"] == 1, result
    accounted = result["applied"] + result["superseded"] - result["applied_then_superseded"]
    assert accounted == result["published"] == 300, result
    assert result["poison_dead_lettered"] == result["poison_with_reason"] == 10, result
    assert result["dead_lettered_healthy"] == 0, result
    assert result["records_lost"] == 0, result


@pytest.mark.slow
def test_a_postgres_restart_and_a_redis_flush_lose_no_record(tmp_path: object) -> None:
    result = chaos(
        "--changes 150 --kills 1 --broker-restarts 0 --postgres-restarts 1 --redis-flushes 1 "
        "--poison 5 --timeout 150"
    )
    assert result["postgres_restarts"] == 1 and result["redis_flushes"] == 1, result
    checked = result["records_checked"]
    assert checked["revisions"] == 2 and checked["rollouts"] == 1, checked
    assert checked["enrollments"] == result["targets"], checked
    assert checked["outcomes"] > 0, "the snapshot before the faults held outcomes"
    assert result["records_lost"] == 0 and result["outcomes_unrecorded"] == 0, result
