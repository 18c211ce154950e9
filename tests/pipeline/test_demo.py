"""The main job as a user runs it: `provision demo`, twice, and interrupted."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import psutil
import pytest
import redis

from broker_config.endpoints import broker_user
from producers.access.management import DEFAULT_ADMIN_URL, Management
from producers.access.users import vhost_of
from producers.processes.commands import provision_argv
from producers.store.migrate import available
from tests.databases import database_name_of, make_database
from tests.isolation import ROOT, Isolation, provision, wait_until


@pytest.fixture(scope="module")
def demo_env(isolation: Isolation) -> dict[str, str]:
    """A vhost and databases of the demo's own, so its workers compete with no other test's.

    The PostgreSQL database is made again EMPTY, as on a fresh machine: the demo must bring
    the schema up itself before its processes check it. Nobody is a trusted sender: every
    outcome counts only because a region's worker user sent it (broker_config.senders).
    """
    env = {**isolation("demo").env, "PROVISION_TRUSTED_SENDERS": ""}
    make_database(database_name_of("demo"), migrated=False)
    return env


def ours(env: dict[str, str]) -> list[psutil.Process]:
    """Processes still running on the demo's vhost (each as its own role's user)."""
    vhost = vhost_of(env["PROVISION_BROKER_URL"])
    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            url = proc.environ().get("PROVISION_BROKER_URL")
            if url and vhost_of(url) == vhost:
                found.append(proc)
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return found


def demo(state: Path, env: dict[str, str], *extra: str) -> tuple[dict, str]:
    """The demo's JSON, and what it said on stderr (the console, under --json)."""
    args = ["--targets", "6", "--state-dir", str(state), "--json", *extra]
    done = provision("demo", *args, env=env, timeout_s=240)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


@pytest.mark.slow
def test_the_demo_converges_then_a_second_run_changes_nothing(
    tmp_path: Path, demo_env: dict[str, str]
) -> None:
    first, said = demo(tmp_path, demo_env)
    assert f"database: applied 0001_{available()[0].name}" in said, said
    assert f"database: applied {len(available()):04d}_" in said, said
    assert first["targets"] == 6
    prefix = demo_env["PROVISION_ACCESS_PREFIX"]
    assert first["access"] == {
        "controller": f"{prefix}-controller",
        "aggregator": f"{prefix}-aggregator",
        "operator": f"{prefix}-operator",
        "worker-eu": f"{prefix}-worker-eu",
        "worker-us": f"{prefix}-worker-us",
    }
    assert (
        f"access: controller as {prefix}-controller, worker eu as {prefix}-worker-eu, "
        f"worker us as {prefix}-worker-us, aggregator as {prefix}-aggregator, "
        f"change event as {prefix}-operator"
    ) in said.replace("\n", " "), said
    access = tmp_path / "access"
    assert stat.S_IMODE(access.stat().st_mode) == 0o700
    assert {p.name for p in access.iterdir()} >= {f"{u}.url" for u in first["access"].values()}
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in access.iterdir())
    assert first["counts"]["changed"] == 6 and first["counts"]["pending"] == 0
    motd = tmp_path / "targets" / "demo-001" / "etc" / "demo" / "motd"
    assert motd.read_text().startswith("This machine is managed")
    assert ours(demo_env) == [], "the demo leaves no process behind"

    second, said = demo(tmp_path, demo_env)
    assert "database: applied" not in said, "the second run finds the schema current"
    assert second["counts"]["converged"] == 6 and second["counts"]["changed"] == 0
    assert ours(demo_env) == []

    # Redis keeps nothing that must not be lost: emptied, both changes read the same.
    before = [status_of(run["change_id"], demo_env) for run in (first, second)]
    redis.Redis.from_url(demo_env["PROVISION_REDIS_URL"]).flushdb()
    assert [status_of(run["change_id"], demo_env) for run in (first, second)] == before
    assert before[0]["counts"]["changed"] == 6 and before[1]["counts"]["converged"] == 6


def status_of(change_id: str, env: dict[str, str]) -> dict:
    done = provision("status", change_id, "--json", env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.slow
def test_ctrl_c_stops_the_demo_and_every_child(tmp_path: Path, demo_env: dict[str, str]) -> None:
    argv = provision_argv("demo", "--targets", "1500", "--state-dir", str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, *argv],
        env={**os.environ, **demo_env},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    # Held under way by construction: the demo's workers are stopped (SIGSTOP) as soon as
    # they exist, before any can finish the rollout, so the demo is still waiting whatever
    # the machine's speed when Ctrl-C arrives; they are let go again after it.
    workers = wait_until(
        lambda: demo_workers(demo_env) or (proc.poll() is not None and ["ended"]),
        60,
        "the demo's workers to start",
    )
    assert proc.poll() is None, f"the demo ended first: {proc.communicate()[0]!r}"
    stopped = []
    for worker in workers:
        with contextlib.suppress(psutil.NoSuchProcess):
            worker.suspend()
            stopped.append(worker)
    wait_until(lambda: len(ours(demo_env)) >= 4, 60, "the demo's children to start")
    assert proc.poll() is None, f"the demo ended first: {proc.communicate()[0]!r}"
    # While it runs, RabbitMQ says who is connected: the controller and the aggregator as
    # their own role's users, nobody as guest; the (stopped) workers hold their own.
    prefix = demo_env["PROVISION_ACCESS_PREFIX"]
    roles = {f"{prefix}-{r}" for r in ("controller", "aggregator")}
    users = wait_until(
        lambda: (found := connected_users(demo_env)) >= roles and found,
        60,
        "the controller and the aggregator connected as their role users",
    )
    assert "guest" not in users, users
    held = {broker_user(w.environ()["PROVISION_BROKER_URL"]) for w in stopped}
    assert held == {f"{prefix}-worker-eu", f"{prefix}-worker-us"}, held
    assert proc.poll() is None, f"the demo ended first: {proc.communicate()[0]!r}"
    proc.send_signal(signal.SIGINT)
    for worker in stopped:
        with contextlib.suppress(psutil.NoSuchProcess):
            worker.resume()
    said = proc.communicate(timeout=60)[0]
    assert proc.returncode == 130, said
    wait_until(lambda: not ours(demo_env), 30, "every child to be gone")


def connected_users(env: dict[str, str]) -> set[str]:
    """The users of the connections to the demo's vhost, as the management API lists them."""
    vhost = vhost_of(env["PROVISION_BROKER_URL"])
    api = Management(DEFAULT_ADMIN_URL)
    found = api.call("GET", f"vhosts/{quote(vhost, safe='')}/connections", missing_ok=True)
    return {str(c.get("user")) for c in found or []}


def demo_workers(env: dict[str, str]) -> list[psutil.Process]:
    """The demo's Celery workers (main processes) once both regions have one."""
    found = [p for p in ours(env) if "workers" in " ".join(_cmdline(p))]
    return found if len(found) >= 2 else []


def _cmdline(proc: psutil.Process) -> list[str]:
    try:
        return proc.cmdline()
    except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
        return []
