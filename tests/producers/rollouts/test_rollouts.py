"""Rollouts with real workers: waves, error budgets, pacing, restarts and plain emitters."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from broker_config import region_queue
from contracts.dead import REASON
from tests.isolation import wait_until
from tests.producers.rollouts.conftest import RolloutPlane, copies, event, targets


def provision(fleet: RolloutPlane, *args: str) -> subprocess.CompletedProcess:
    return fleet.iso.provision(*args)


#: A command that blocks until the test creates `go` in the target's root: a rollout held by
#: construction, so steering it never races its completion.
GATE = {
    "kind": "command",
    "shell": True,
    "name": "gate",
    "timeout_s": 90,
    "argv": ["while [ ! -e go ]; do sleep 0.05; done"],
}


def gated(tmp_path: Path, prefix: str, count: int, max_in_flight: int) -> tuple[list[str], dict]:
    """Target ids and an event whose every target waits at its gate; max_in_flight held."""
    ids = [f"{prefix}{i:02d}" for i in range(count)]
    body = event(
        targets(tmp_path, count, prefix=prefix), resources=[GATE], max_in_flight=max_in_flight
    )
    return ids, body


def open_gates(tmp_path: Path, *target_ids: str) -> None:
    """Let these targets' gate commands finish (a missing root is skipped)."""
    for target_id in target_ids:
        root = tmp_path / target_id
        if root.is_dir():
            (root / "go").touch()


def status(fleet: RolloutPlane, rollout_id: str) -> dict[str, Any]:
    done = provision(fleet, "rollout", "status", rollout_id, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def outcomes(fleet: RolloutPlane, rollout_id: str) -> dict[str, dict[str, Any]]:
    return fleet.outcomes(rollout_id)


def test_an_event_from_a_plain_pika_client_rolls_out_in_waves(
    tmp_path: Path, fleet: RolloutPlane
) -> None:
    body = event(targets(tmp_path, 5), waves=[1, "50%", "100%"])
    fleet.emit(body)
    rid = body["event_id"]
    assert fleet.wait_state(rid, {"completed", "halted"}) == "completed"
    result = status(fleet, rid)
    assert [w["size"] for w in result["waves"]] == [1, 2, 2]
    assert all(w["counts"]["changed"] == w["size"] for w in result["waves"])
    assert (tmp_path / "t04" / "etc/motd").read_text() == "hi\n"
    watched = provision(fleet, "rollout", "watch", rid, "--timeout", "20")
    assert watched.returncode == 0, watched.stderr
    assert "wave 2" in watched.stdout and "rollout completed" in watched.stdout


def test_a_failing_canary_halts_the_rollout_and_no_later_wave_is_published(
    tmp_path: Path, fleet: RolloutPlane
) -> None:
    body = event(targets(tmp_path, 6, prefix="c", missing=("c00",)), waves=[1, "100%"])
    fleet.emit(body)
    rid = body["event_id"]
    assert fleet.wait_state(rid, {"completed", "halted"}) == "halted"
    result = status(fleet, rid)
    assert "wave 0" in result["reason"] and "max_failures" in result["reason"]
    assert result["published"] == 1
    assert result["waves"][0]["counts"]["failed"] == 1
    assert result["waves"][1]["counts"]["pending"] == 5
    assert not any((tmp_path / f"c{i:02d}" / "etc").exists() for i in range(1, 6))
    assert set(outcomes(fleet, rid)) == {"c00"}


def _overlap(rows: list[dict[str, Any]]) -> int:
    """The most outcomes whose [started_at, finished_at] intervals overlap at one moment."""
    edges = []
    for row in rows:
        edges.append((datetime.fromisoformat(row["started_at"]), 1))
        edges.append((datetime.fromisoformat(row["finished_at"]), -1))
    most = current = 0
    for _, step in sorted(edges, key=lambda e: (e[0], e[1])):
        current += step
        most = max(most, current)
    return most


def test_max_in_flight_holds_across_the_region(tmp_path: Path, fleet: RolloutPlane) -> None:
    slow = [{"kind": "command", "argv": ["sleep", "0.3"], "name": "slow"}]
    body = event(targets(tmp_path, 6, prefix="f"), resources=slow, max_in_flight=1)
    depths: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        connection = fleet.amqp()
        channel = connection.channel()
        while not stop.is_set():
            depths.append(
                channel.queue_declare(region_queue("eu"), passive=True).method.message_count
            )
            stop.wait(0.05)
        connection.close()

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        fleet.emit(body)
        assert fleet.wait_state(body["event_id"], {"completed", "halted"}) == "completed"
    finally:
        stop.set()
        sampler.join(10)
    rows = list(outcomes(fleet, body["event_id"]).values())
    assert len(rows) == 6 and all(r["status"] == "changed" for r in rows)
    assert _overlap(rows) == 1, "the eu worker has 2 processes, yet only 1 ran at a time"
    assert depths and max(depths) <= 1, "the region queue stays within the in-flight cap"


def test_a_controller_killed_mid_rollout_resumes_without_publishing_twice(
    tmp_path: Path, fleet: RolloutPlane
) -> None:
    ids, body = gated(tmp_path, "k", 12, max_in_flight=3)
    rid = body["event_id"]
    with copies(fleet) as seen:
        try:
            fleet.emit(body)
            fleet.wait_published(rid, 3)  # three gated requests in flight: held by construction
            assert fleet.controller is not None
            os.killpg(fleet.controller.proc.pid, signal.SIGKILL)
            fleet.controller.proc.wait(10)
            assert fleet.published(rid) == 3, "killed mid-rollout, with no slot free"
            fleet.start_controller()
            open_gates(tmp_path, *ids)
            assert fleet.wait_state(rid, {"completed", "halted"}, timeout_s=90) == "completed"
        finally:
            open_gates(tmp_path, *ids)  # never leave the eu worker blocked
    assert sorted(seen) == [f"k{i:02d}" for i in range(12)], "every target was published"
    # A publish cannot be atomic with its record: the one request in hand when the controller
    # died may go out again (same task id, so the worker applies it once). No wave is redone.
    again = [target for target, count in seen.items() if count > 1]
    assert len(again) <= 1 and all(seen[t] == 2 for t in again), f"republished: {seen}"


def test_a_second_event_with_the_same_id_is_a_no_op(tmp_path: Path, fleet: RolloutPlane) -> None:
    body = event(targets(tmp_path, 2, prefix="d"))
    fleet.emit(body)
    fleet.wait_state(body["event_id"], {"completed"})
    created = fleet.state(body["event_id"])["created_at"]
    fleet.emit(body)
    marker = event(targets(tmp_path, 1, prefix="m"))
    fleet.emit(marker)  # the controller takes events in order: once it is done, so is ours
    fleet.wait_state(marker["event_id"], {"completed"})
    assert fleet.state(body["event_id"])["created_at"] == created
    assert fleet.published(body["event_id"]) == 2


def _dead_reason(fleet: RolloutPlane, marker: str) -> str | None:
    found = fleet.iso.dead_letter_with(marker)
    return None if found is None else str((found[0].headers or {}).get(REASON))


def test_an_invalid_event_is_dead_lettered_and_its_rejection_recorded(
    tmp_path: Path, fleet: RolloutPlane
) -> None:
    body = event(targets(tmp_path, 1, prefix="x"), waves=["150%"])
    fleet.emit(body)
    rid = body["event_id"]
    assert fleet.wait_state(rid, {"rejected"}) == "rejected"
    result = status(fleet, rid)
    assert "rollout.waves.0" in result["reason"] and "150%" in result["reason"]
    reason = wait_until(lambda: _dead_reason(fleet, rid), 20, "the dead letter")
    assert "150%" in reason

    no_target = event(targets(tmp_path, 1, prefix="y"))
    no_target["selector"] = {"environment": "prod"}
    fleet.emit(no_target)
    assert fleet.wait_state(no_target["event_id"], {"rejected"}) == "rejected"
    assert "matches no target" in fleet.state(no_target["event_id"])["reason"]

    unknown_region = event(targets(tmp_path, 1, prefix="z", region="mars"))
    fleet.emit(unknown_region)
    assert fleet.wait_state(unknown_region["event_id"], {"rejected"}) == "rejected"
    assert "unknown region 'mars'" in fleet.state(unknown_region["event_id"])["reason"]

    fleet.iso.emit_event(b"{not json")  # signed by a trusted key, and still not JSON
    reason = wait_until(lambda: _dead_reason(fleet, "{not json"), 20, "the dead letter")
    assert reason.startswith("not JSON")


def test_pause_resume_and_abort_steer_a_running_rollout(
    tmp_path: Path, fleet: RolloutPlane
) -> None:
    ids, body = gated(tmp_path, "p", 30, max_in_flight=1)
    rid = body["event_id"]
    try:
        fleet.emit(body)
        fleet.wait_published(rid, 1)  # p00 in flight and blocked: RUNNING by construction
        paused = provision(fleet, "rollout", "pause", rid)
        assert paused.returncode == 0 and "running -> paused" in paused.stdout
        open_gates(tmp_path, "p00")  # its slot frees while paused
        wait_until(lambda: "p00" in outcomes(fleet, rid), 60, "p00's outcome while paused")
        marker = event(targets(tmp_path, 1, prefix="pm"))
        fleet.emit(marker)  # the controller takes events in order: once this completes, it
        fleet.wait_state(marker["event_id"], {"completed"})  # has ticked since the pause
        assert fleet.published(rid) == 1, "nothing is published while paused"
        assert provision(fleet, "rollout", "resume", rid).returncode == 0
        fleet.wait_published(rid, 2)  # p01 published and blocked: still RUNNING
        aborted = provision(fleet, "rollout", "abort", rid)
        assert aborted.returncode == 0 and "-> aborted" in aborted.stdout
        assert fleet.wait_state(rid, {"aborted"}) == "aborted"
        assert fleet.published(rid) == 2
        again = provision(fleet, "rollout", "resume", rid)
        assert again.returncode == 2 and "aborted" in again.stderr
    finally:
        open_gates(tmp_path, *ids)  # never leave the eu worker blocked
