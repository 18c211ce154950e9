"""The CI-sized fault-injection run: a few hundred changes, worker kills, a broker and a
Redis restart, poison. The full-size figures are the harness's, run by hand (README)."""

from __future__ import annotations

import json

import pytest

from tests.isolation import REDIS_DBS, need, reachable, run_module


@pytest.mark.slow
def test_chaos_loses_nothing_and_applies_nothing_twice(tmp_path: object) -> None:
    need(reachable(5672) and reachable(6379), "RabbitMQ and Redis are needed")
    done = run_module(
        "bench.chaos",
        "--changes",
        "300",
        "--kills",
        "2",
        "--broker-restarts",
        "1",
        "--redis-restarts",
        "1",
        "--poison",
        "10",
        "--timeout",
        "150",
        "--json",
        "--redis-db",
        str(REDIS_DBS["chaos"]),
        timeout_s=240,
    )
    assert done.stdout.strip(), (
        f"chaos printed nothing (exit {done.returncode}):\n{done.stderr[-4000:]}"
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["settled"], result
    assert result["kills"] == 2 and result["broker_restarts"] == 1, result
    assert result["redis_restarts"] == 1, result
    assert result["lost"] == 0 and result["duplicate_effects"] == 0, result
    accounted = result["applied"] + result["superseded"] - result["applied_then_superseded"]
    assert accounted == result["published"] == 300, result
    assert result["poison_dead_lettered"] == result["poison_with_reason"] == 10, result
    assert result["dead_lettered_healthy"] == 0, result
    assert done.returncode == 0, done.stderr[-2000:]
    assert reachable(5672) and reachable(6379), "the services are left running"
