"""An isolated control plane for pull tests: its own vhost, Redis database 12, a real
controller (with a known check-in rate) and aggregator, and a source of truth of local
targets whose revisions the tests publish and assign directly."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from contracts import FileSpec, Target
from contracts.inventory import Inventory
from contracts.truth import RoleFile, SourceBundle
from producers.pull.assignments import ASSIGNED_KEY
from producers.truth.revisions import RevisionStore
from tests.support import ROOT, Process, drop_vhost, make_vhost, need, reachable, wait_until

#: A database no other fixture uses.
REDIS_DB = 12
#: Held while a module uses database 12, so two runs on one machine take turns.
LOCK_FILE = Path("/tmp/provision-test-pull-db12.lock")
#: The controller's check-in admission: rate per second and burst.
RATE_PER_S = 100.0
BURST = 10
#: Targets of the thundering-herd test, and a few for the others.
HERD = [f"h{i:03d}" for i in range(500)]
SINGLES = [f"p{i:02d}" for i in range(12)]


class PullPlane:
    """The control plane of the pull tests, and helpers to drive it."""

    def __init__(self, env: dict[str, str], base: Path) -> None:
        self.env = env
        self.base = base
        self.redis = redis.Redis.from_url(env["PROVISION_REDIS_URL"], decode_responses=True)
        self.store = RevisionStore(self.redis)
        self.targets = [
            Target(
                id=target_id,
                region="eu",
                environment="test",
                labels={"group": "herd" if target_id in HERD else "single"},
                roles=("base",),
                delivery="pull",
                address=f"local://{base / 'roots' / target_id}",
            )
            for target_id in [*SINGLES, *HERD]
        ]
        for target in self.targets:
            self.root(target.id).mkdir(parents=True, exist_ok=True)

    def root(self, target_id: str) -> Path:
        return self.base / "roots" / target_id

    def credentials(self, target_id: str) -> Path:
        return self.base / "agents" / target_id

    def publish(self, motd: str) -> int:
        """A new revision in which every target's /etc/motd reads `motd`; its sequence."""
        bundle = SourceBundle(
            inventory=Inventory(targets=tuple(self.targets)),
            roles={"base": RoleFile(resources=(FileSpec(path="/etc/motd", content=motd),))},
        )
        return self.store.publish(bundle, author="tests", message=motd).revision.number

    def assign(self, target_ids: list[str], revision: int, change_id: str = "tests") -> None:
        """Assign as a rollout would, or backwards (as after Redis lost its assignments)."""
        value = json.dumps({"revision": revision, "change_id": change_id})
        self.redis.hset(ASSIGNED_KEY, mapping=dict.fromkeys(target_ids, value))

    def provision(self, *args: str, timeout_s: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "producers", *args],
            capture_output=True,
            text=True,
            env={**os.environ, **self.env},
            cwd=ROOT,
            timeout=timeout_s,
        )

    def enroll(self, target_id: str) -> Path:
        out = self.credentials(target_id)
        done = self.provision("enroll", target_id, "--out", str(out))
        assert done.returncode == 0, done.stderr
        return out

    def agent(self, target_id: str, *args: str, credentials: Path | None = None) -> Any:
        """`provision agent --once` for one target, as a subprocess; returns the result."""
        creds = credentials or self.credentials(target_id)
        return self.provision(
            "agent", "--target", target_id, "--credentials", str(creds), "--once", *args
        )

    def compliance(self, *selector: str) -> dict[str, Any]:
        args = [item for s in selector for item in ("--selector", s)]
        done = self.provision("compliance", "--json", *args)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def standing(self, target_id: str) -> dict[str, Any] | None:
        raw = self.redis.hget("provision:compliance", target_id)
        return json.loads(raw) if raw else None

    def wait_standing(self, target_id: str, **expected: Any) -> dict[str, Any]:
        def matches() -> dict[str, Any] | None:
            found = self.standing(target_id)
            ok = found and all(found.get(k) == v for k, v in expected.items())
            return found if ok else None

        return wait_until(matches, 20, f"{target_id}'s compliance to show {expected}")


@contextlib.contextmanager
def exclusive(path: Path, timeout_s: float = 300) -> Iterator[None]:
    """An flock on `path`: a second test run waits (bounded) instead of flushing our data."""
    with open(path, "a") as handle:
        wait_until(
            lambda: _try_lock(handle.fileno()), timeout_s, f"the lock {path} (another test run)"
        )
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _try_lock(descriptor: int) -> bool:
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@pytest.fixture(scope="module")
def plane(
    services: dict[str, str],
    spawn: Callable[..., Process],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[PullPlane]:
    need(reachable(6379), "Redis is not reachable")
    with exclusive(LOCK_FILE):
        yield from _plane(spawn, tmp_path_factory)


def _plane(
    spawn: Callable[..., Process], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PullPlane]:
    vhost = f"provision-test-pull-{os.getpid()}"
    env = {
        "PROVISION_BROKER_URL": make_vhost(vhost),
        "PROVISION_REDIS_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
    }
    redis.Redis.from_url(env["PROVISION_REDIS_URL"]).flushdb()
    plane = PullPlane(env, tmp_path_factory.mktemp("pull"))
    aggregator = spawn("pull-aggregator", ["-m", "producers", "aggregator"], env)
    rate = ["--checkin-rate", str(RATE_PER_S), "--checkin-burst", str(BURST)]
    controller = spawn("pull-controller", ["-m", "producers", "controller", *rate], env)
    for name, proc in (("aggregator", aggregator), ("controller", controller)):
        wait_until(
            lambda p=proc: "consuming" in p.text() or p.proc.poll() is not None, 30, f"the {name}"
        )
        assert proc.proc.poll() is None, proc.text()
    yield plane
    aggregator.stop()
    controller.stop()
    drop_vhost(vhost)
