"""A thundering herd: 500 agents wake at the same moment; all converge, and the desk never
admits faster than its rate (plus burst) in any one-second window."""

from __future__ import annotations

import bisect
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pika.exceptions
import pytest

from contracts.signatures import public_pem
from producers.pull.desk import ADMISSIONS_KEY
from producers.pull.enrollment import Enrollment, write_credentials
from tests.isolation import controller_key, wait_until
from tests.workers.pull.conftest import BURST, HERD, RATE_PER_S, PullPlane
from workers.pull.agent import Agent, PullResult

#: Runs an agent makes before the test gives up on it, and the splay before each rerun.
TRIES = 5
RETRY_SPLAY_S = 3.0


def max_in_any_window(times: list[float], window_s: float = 1.0) -> int:
    """The most admissions in any window of `window_s` (windows start at each admission)."""
    times = sorted(times)
    return max(bisect.bisect_left(times, t + window_s) - i for i, t in enumerate(times))


@pytest.mark.slow
def test_500_agents_at_once_all_converge_within_the_admission_rate(plane: PullPlane) -> None:
    revision = plane.publish("herd\n")
    plane.assign(HERD, revision, change_id="c-herd")
    enrollment = Enrollment(plane.db)
    for target_id in HERD:  # in-process: 500 CLI runs would only measure Python start-up
        credentials = enrollment.enroll(
            target_id, plane.env["PROVISION_BROKER_URL"], public_pem(controller_key())
        )
        write_credentials(plane.credentials(target_id), credentials)
    plane.redis.delete(ADMISSIONS_KEY)
    start = threading.Barrier(len(HERD))

    def wake(target_id: str) -> PullResult | None:
        agent = Agent(plane.credentials(target_id), interval_s=600, patience_s=60)
        start.wait()
        # 500 connections at once can outlast a TCP or AMQP connect timeout on a busy 2-core
        # box; the agent then reports itself offline and runs again on its timer, after a
        # random splay (`Agent.run`), as here: retrying in lockstep would be the same herd.
        result = None
        for attempt in range(TRIES):
            if attempt:
                time.sleep(random.uniform(0, RETRY_SPLAY_S))
            try:
                result = agent.check_in_once()
            except pika.exceptions.AMQPConnectionError:
                continue
            if result.kind != "offline":
                break
        return result

    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(HERD)) as pool:
        results = list(pool.map(wake, HERD))
    took_s = time.monotonic() - began

    failed = [
        (t, r and r.kind, r and r.message)
        for t, r in zip(HERD, results, strict=True)
        if r is None or not r.ok
    ]
    assert failed == []
    assert all(r is not None and r.kind == "reported" for r in results)
    assert all((plane.root(t) / "etc/motd").read_text() == "herd\n" for t in HERD)
    wait_until(
        lambda: len(plane.outcomes("c-herd")) == len(HERD),
        30,
        "all 500 outcomes recorded",
    )
    times = [score for _, score in plane.redis.zrange(ADMISSIONS_KEY, 0, -1, withscores=True)]
    assert len(times) == len(HERD), "exactly one admission per agent"
    peak = max_in_any_window(times)
    assert peak <= RATE_PER_S + BURST, f"{peak} admissions in one second"
    span_s = max(times) - min(times)
    rate = (len(times) - BURST) / span_s
    print(f"500 agents: {took_s:.1f}s; admitted over {span_s:.2f}s ({rate:.1f}/s), peak {peak}/s")
    assert rate <= RATE_PER_S * 1.05
    counts = plane.compliance("group=herd")["counts"]
    assert counts["aligned"] == len(HERD)
