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

import psutil
import pytest
import redis

from producers.processes.commands import provision_argv
from producers.store.migrate import available
from tests.databases import database_name_of, make_database
from tests.isolation import ROOT, Isolation, provision, wait_until
from tests.logins import connected_users, logged_in, role_of


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
    """Processes still running as one of the demo's roles (its env file names a user of the
    group's prefix: nobody else's), pool children included."""
    prefix = env["PROVISION_ACCESS_PREFIX"] + "-"
    return [p for p in psutil.process_iter(["pid"]) if (role_of(p) or "").startswith(prefix)]


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
        f"access: controller as {prefix}-controller (RabbitMQ, Redis, PostgreSQL), "
        f"worker eu as {prefix}-worker-eu (RabbitMQ, Redis), "
        f"worker us as {prefix}-worker-us (RabbitMQ, Redis), "
        f"aggregator as {prefix}-aggregator (RabbitMQ, PostgreSQL), "
        f"change event as {prefix}-operator (RabbitMQ, PostgreSQL)"
    ) in " ".join(said.split()), said
    access = tmp_path / "access"
    assert stat.S_IMODE(access.stat().st_mode) == 0o700
    users = first["access"].values()
    assert {p.name for p in access.iterdir()} >= {f"{u}.{e}" for u in users for e in ("url", "env")}
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
    try:
        said = interrupted_while_held(proc, demo_env)
    finally:  # a failed check leaves no demo running (its children die with it)
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=60)
    assert proc.returncode == 130, said
    wait_until(lambda: not ours(demo_env), 30, "every child to be gone")


def interrupted_while_held(proc: subprocess.Popen[bytes], env: dict[str, str]) -> bytes:
    """Hold the demo under way, check who its processes are, Ctrl-C it; what it said.

    Held by construction: the demo's workers (each a process group: its pool too) are
    stopped as soon as they exist, before any can finish the rollout, so the demo is still
    waiting whatever the machine's speed; they are let go again after Ctrl-C."""
    workers = wait_until(
        lambda: demo_workers(proc) or (proc.poll() is not None and {"ended": -1}),
        60,
        "the demo's workers to start",
    )
    assert proc.poll() is None, f"the demo ended first: {proc.communicate()[0]!r}"
    for pid in workers.values():
        os.killpg(pid, signal.SIGSTOP)
    try:
        check_logins_then_interrupt(proc, env, workers)
    finally:
        for pid in workers.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGCONT)
    return proc.communicate(timeout=60)[0]


def check_logins_then_interrupt(
    proc: subprocess.Popen[bytes], env: dict[str, str], workers: dict[str, int]
) -> None:
    """While the demo is held, the servers say who its processes are; then Ctrl-C."""
    prefix = env["PROVISION_ACCESS_PREFIX"]
    demo = psutil.Process(proc.pid)
    # RabbitMQ: the controller and the aggregator as their own role's users, nobody as guest.
    roles = {f"{prefix}-{r}" for r in ("controller", "aggregator")}
    users = wait_until(
        lambda: (found := connected_users(env)) >= roles and found,
        60,
        "the controller and the aggregator connected as their role users",
    )
    assert "guest" not in users, users
    # Redis and PostgreSQL: the controller and the aggregator hold their pools' connections.
    wanted = {
        (f"{prefix}-controller", "redis"),
        (f"{prefix}-controller", "postgresql"),
        (f"{prefix}-aggregator", "postgresql"),
    }
    seen = wait_until(
        lambda: logged_in(demo, wanted),
        60,
        "the controller's and the aggregator's Redis and PostgreSQL logins",
    )
    # The workers use Redis from their first task on: both are let go until each has
    # logged in (the first wave is one target, the next hundreds: the rollout cannot
    # finish in between), then stopped again.
    for pid in workers.values():
        os.killpg(pid, signal.SIGCONT)
    wanted = {(f"{prefix}-worker-{region}", "redis") for region in workers}
    seen |= wait_until(
        lambda: logged_in(demo, wanted),
        60,
        "each worker's Redis login",
    )
    for pid in workers.values():
        os.killpg(pid, signal.SIGSTOP)
    assert proc.poll() is None, f"the demo ended first: {proc.communicate()[0]!r}"
    mismatched = {login for login in seen if login[0] != login[2]}
    assert not mismatched, f"(role, store, user the server saw): {sorted(mismatched)}"
    workers_users = {f"{prefix}-worker-{region}" for region in workers}
    users = wait_until(  # the management API lists connections some seconds late
        lambda: (found := connected_users(env)) >= workers_users and found,
        60,
        "the workers connected to RabbitMQ as their role users",
    )
    assert "guest" not in users, users
    proc.send_signal(signal.SIGINT)


def demo_workers(demo: subprocess.Popen[bytes]) -> dict[str, int]:
    """Region -> pid of the demo's Celery workers (its children, each leading its process
    group) once both regions have one."""
    try:
        children = psutil.Process(demo.pid).children()
    except psutil.NoSuchProcess:
        return {}
    found = {
        (role_of(p) or "").rsplit("-", 1)[-1]: p.pid
        for p in children
        if "workers" in " ".join(_cmdline(p))
    }
    return found if len(found) >= 2 else {}


def _cmdline(proc: psutil.Process) -> list[str]:
    try:
        return proc.cmdline()
    except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
        return []
