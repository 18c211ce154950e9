"""A push does not converge a target whose own lock (a flock on the target) is held, even
when Redis holds no lock for it (as after a Redis restart or FLUSHDB mid-converge): the
worker waits as for "lock busy", then converges once the holder lets go."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from producers.processes.supervisor import Child
from tests.isolation import ROOT, wait_until
from tests.pipeline.conftest import change_file, local_target
from tests.services import flock_held
from workers.engine.target_lock import LOCK_FILE


def test_a_push_waits_for_the_targets_own_lock_without_any_redis_lock(
    tmp_path: Path, services: dict[str, str], pipeline: dict[str, Child], redis_client: Any
) -> None:
    target = local_target(tmp_path, "flocked-1", "eu")
    conf = tmp_path / "flocked-1" / "etc/app.conf"
    path = change_file(
        tmp_path, [target], [{"kind": "file", "path": "/etc/app.conf", "content": "x\n"}]
    )
    worker = pipeline["eu"]
    seen = len(worker.text())

    with flock_held(tmp_path / "flocked-1" / LOCK_FILE.lstrip("/")):
        apply = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "producers",
                "apply",
                str(path),
                "--wait",
                "--json",
                "--timeout",
                "120",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **services},
            cwd=ROOT,
        )
        wait_until(
            lambda: "TargetLocked" in worker.text()[seen:] and "flocked-1" in worker.text()[seen:],
            60,
            "the worker to find the target's lock busy",
        )
        # Redis has no lock for the target: only the flock on the target keeps the push out.
        assert redis_client.get("provision:lock:flocked-1") is None
        assert not conf.exists(), "applied while another run held the target's lock"

    out, err = apply.communicate(timeout=120)
    assert apply.returncode == 0, out + err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["counts"]["changed"] == 1
    assert conf.read_text() == "x\n"
