"""Every Redis key string is persisted format: pinned here, spelled nowhere else."""

from __future__ import annotations

import subprocess
from pathlib import Path

from broker_config import redis_keys as k

ROOT = Path(__file__).resolve().parents[2]


def test_every_key_string_is_the_persisted_one() -> None:
    assert k.CHANGES == "provision:changes"
    assert k.change_key("c") == "provision:change:c"
    assert k.change_key("c", "latest") == "provision:change:c:latest"
    assert k.ROLLOUTS == "provision:rollouts"
    assert k.ACTIVE_ROLLOUTS == "provision:rollouts:active"
    assert k.rollout_key("c", "counts") == "provision:rollout:c:counts"
    assert k.inflight_key("c", "eu") == "provision:rollout:c:inflight:eu"
    assert k.rate_key("c", "eu") == "provision:rollout:c:rate:eu"
    assert k.SEQUENCE.format(target="t") == "provision:sequence:t"
    assert k.ASSIGNED == "provision:assigned"
    assert k.AGENT.format(target="t") == "provision:agent:t"
    assert k.COMPLIANCE == "provision:compliance"
    assert k.COMPLIANCE_LATEST == "provision:compliance:latest"
    assert k.INVENTORY == "provision:inventory"
    assert k.CHECKIN_RATE == "provision:checkins:rate"
    assert k.ADMISSIONS == "provision:admissions"
    assert k.CHECKINS_WAITING == "provision:checkins:waiting"
    assert k.REFUSALS == "provision:refusals"
    assert k.REFUSALS_COUNT == "provision:refusals:count"
    assert k.revisions_counter() == "provision:state:revisions"
    assert k.revision_key(3) == "provision:state:revision:3"
    assert k.rendered_key(3) == "provision:state:revision:3:rendered"
    assert k.DELIVERIES.format(task_id="i", round=2) == "provision:deliveries:i:2"
    assert k.DONE.format(change_id="c", target="t") == "provision:done:c:t"
    assert k.LOCK.format(target="t") == "provision:lock:t"
    assert k.FENCE.format(target="t") == "provision:fence:t"


def test_neither_plane_spells_a_key_of_its_own() -> None:
    found = subprocess.run(
        ["grep", "-rnE", "[\"']provision:", "producers", "workers", "--include=*.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    assert found == "", found
