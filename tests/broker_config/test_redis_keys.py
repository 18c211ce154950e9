"""Every Redis key string is persisted format: pinned here, spelled nowhere else."""

from __future__ import annotations

import subprocess
from pathlib import Path

from broker_config import redis_keys as k

ROOT = Path(__file__).resolve().parents[2]


def test_every_key_string_is_the_persisted_one() -> None:
    assert k.rollout_key("c", "x") == "provision:rollout:c:x"
    assert k.inflight_key("c", "eu") == "provision:rollout:c:inflight:eu"
    assert k.rate_key("c", "eu") == "provision:rollout:c:rate:eu"
    assert k.SEQUENCE.format(target="t") == "provision:sequence:t"
    assert k.CHECKIN_RATE == "provision:checkins:rate"
    assert k.ADMISSIONS == "provision:admissions"
    assert k.CHECKINS_WAITING == "provision:checkins:waiting"
    assert k.DELIVERIES.format(task_id="i", round=2) == "provision:deliveries:i:2"
    assert k.DONE.format(change_id="c", target="t") == "provision:done:c:t"
    assert k.LOCK.format(target="t") == "provision:lock:t"
    assert k.FENCE.format(target="t") == "provision:fence:t"


def test_no_record_lives_in_redis() -> None:
    """The keys of the records that moved to PostgreSQL are gone, so nothing can write one."""
    for gone in (
        "CHANGES",
        "change_key",
        "ROLLOUTS",
        "ACTIVE_ROLLOUTS",
        "ASSIGNED",
        "AGENT",
        "COMPLIANCE",
        "INVENTORY",
        "REFUSALS",
        "STATE",
        "revision_key",
    ):
        assert not hasattr(k, gone), gone


def test_neither_plane_spells_a_key_of_its_own() -> None:
    found = subprocess.run(
        ["grep", "-rnE", "[\"']provision:", "producers", "workers", "--include=*.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    assert found == "", found
