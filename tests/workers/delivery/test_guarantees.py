"""At-least-once delivery turned into exactly-once effect, on the real broker and Redis."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path
from typing import Any

import psutil

from producers.messaging.publisher import task_id
from producers.processes.supervisor import Child
from producers.records.ledger import Ledger
from tests.isolation import wait_until
from tests.workers.delivery.conftest import (
    append_effect,
    effects,
    make_target,
    outcome_of,
    publish,
    request,
)
from workers.delivery.guard import DELIVERIES_KEY


def starts(rdb: Any, change: Any, round_id: str = "0:0") -> int:
    key = DELIVERIES_KEY.format(task_id=task_id(change.change_id, change.target.id), round=round_id)
    return int(rdb.get(key) or 0)


def test_a_duplicate_publish_applies_once_and_reports_the_recorded_outcome(
    tmp_path: Path, ledger: Ledger, conn: Any, rdb: Any, dl_pipeline: dict[str, Child]
) -> None:
    target = make_target(tmp_path)
    change = request(target, [append_effect("dup-1")])

    publish(conn, change)
    first = outcome_of(ledger, change)
    publish(conn, change)
    wait_until(lambda: starts(rdb, change) >= 2, 30, "the second delivery")

    assert first.status == "changed"
    assert effects(target) == ["dup-1"], "the unguarded command ran once"
    wait_until(lambda: outcome_of(ledger, change).outcome_id == first.outcome_id, 10, "same event")


def test_a_completed_request_applies_once_even_after_redis_forgot_it(
    tmp_path: Path, ledger: Ledger, conn: Any, rdb: Any, dl_pipeline: dict[str, Child]
) -> None:
    target = make_target(tmp_path)
    change = request(target, [append_effect("forgot-1")], sequence=1)
    publish(conn, change)
    assert outcome_of(ledger, change).status == "changed"

    rdb.flushdb()  # what a restart of a Redis without persistence does to our records
    publish(conn, change)
    wait_until(lambda: starts(rdb, change) >= 1, 30, "the delivery after the flush")
    again = outcome_of(ledger, change)

    assert effects(target) == ["forgot-1"], "the target's journal kept the record"
    assert again.status == "changed" and again.attempts == 1


def test_redelivery_after_a_worker_sigkill_applies_once(
    tmp_path: Path, ledger: Ledger, conn: Any, dl_pipeline: dict[str, Child]
) -> None:
    target = make_target(tmp_path)
    root = Path(target.address.removeprefix("local://"))
    slow = {
        "kind": "command",
        "argv": ["touch started; sleep 2; printf 'kill-1\\n' >> effects.log; : > done"],
        "shell": True,
        "creates": "/done",
        "name": "slow",
    }
    change = request(target, [slow])
    publish(conn, change)
    wait_until(lambda: (root / "started").exists(), 30, "the command to start")

    worker = psutil.Process(dl_pipeline["worker"].proc.pid)
    busy = [
        child
        for child in worker.children(recursive=True)
        if any(grand.name() in ("sh", "sleep") for grand in child.children(recursive=True))
        or child.name() in ("sh", "sleep")
    ]
    pool = [c for c in worker.children() if c.pid in {b.pid for b in busy}]
    assert pool, "a pool child runs the command"
    for child in pool:
        os.kill(child.pid, signal.SIGKILL)

    result = outcome_of(ledger, change, timeout_s=90)
    # The killed run never reported: the outcome is the redelivery's. It waited out the dead
    # child's lock, found the command's `creates` file and applied nothing more.
    assert result.status == "converged"
    assert effects(target) == ["kill-1"]


def test_an_older_sequence_after_a_newer_is_superseded(
    tmp_path: Path, ledger: Ledger, conn: Any, dl_pipeline: dict[str, Child]
) -> None:
    target = make_target(tmp_path)
    newer = request(
        target, [{"kind": "file", "path": "/app.conf", "content": "new\n"}], sequence=20
    )
    older = request(
        target, [{"kind": "file", "path": "/app.conf", "content": "old\n"}], sequence=10
    )

    publish(conn, newer)
    assert outcome_of(ledger, newer).status == "changed"
    publish(conn, older)
    late = outcome_of(ledger, older)

    assert late.status == "superseded"
    assert late.error is not None and "older than 20" in late.error.message
    assert (Path(target.address.removeprefix("local://")) / "app.conf").read_text() == "new\n"


def test_a_transient_failure_retries_with_growing_delays_and_then_succeeds(
    tmp_path: Path, ledger: Ledger, conn: Any, dl_pipeline: dict[str, Child]
) -> None:
    target = make_target(tmp_path)
    root = Path(target.address.removeprefix("local://"))
    change = request(
        target,
        [append_effect("ready-1")],
        checks=[{"kind": "path_exists", "path": "/ready"}],
    )
    log = dl_pipeline["worker"]
    pattern = re.compile(
        rf"retry (\d+) of {change.change_id}/{target.id} in ([\d.]+)s \(cap ([\d.]+)s\)"
    )

    publish(conn, change)
    wait_until(lambda: len(pattern.findall(log.text())) >= 3, 60, "three retries")
    (root / "ready").touch()
    result = outcome_of(ledger, change)
    wait_until(
        lambda: result.status == "changed" or outcome_of(ledger, change).status == "changed",
        30,
        "success",
    )

    retries = [(int(n), float(d), float(c)) for n, d, c in pattern.findall(log.text())]
    caps = [cap for _, _, cap in retries]
    assert caps[:3] == sorted(caps[:3]) and caps[0] < caps[2], "the backoff bound doubles"
    assert all(0 <= delay <= cap for _, delay, cap in retries), "full jitter stays under it"
    final = outcome_of(ledger, change)
    assert final.status == "changed" and final.attempts == len(retries) + 1
    assert effects(target) == ["ready-1"]


def test_a_permanent_failure_fails_at_once_with_its_reason(
    tmp_path: Path, ledger: Ledger, conn: Any, dl_pipeline: dict[str, Child]
) -> None:
    target = make_target(tmp_path)
    change = request(target, [{"kind": "command", "argv": ["false"], "name": "fails"}])

    publish(conn, change)
    result = outcome_of(ledger, change)

    assert result.status == "failed" and result.attempts == 1
    assert result.error is not None and result.error.type == "CommandFailed"
    assert result.error.transient is False and "exited 1" in result.error.message
