"""The main job as a user runs it: `provision demo`, twice, and interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from producers.processes.commands import provision_argv
from producers.store.migrate import available
from tests.databases import database_name_of, make_database
from tests.isolation import ROOT, Isolation, provision, wait_until


@pytest.fixture(scope="module")
def demo_env(isolation: Isolation) -> dict[str, str]:
    """A vhost and databases of the demo's own, so its workers compete with no other test's.

    The PostgreSQL database is made again EMPTY, as on a fresh machine: the demo must bring
    the schema up itself before its processes check it.
    """
    env = isolation("demo").env
    make_database(database_name_of("demo"), migrated=False)
    return env


def ours(env: dict[str, str]) -> list[psutil.Process]:
    """Processes still running with the demo's broker URL in their environment."""
    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.environ().get("PROVISION_BROKER_URL") == env["PROVISION_BROKER_URL"]:
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
    assert first["counts"]["changed"] == 6 and first["counts"]["pending"] == 0
    motd = tmp_path / "targets" / "demo-001" / "etc" / "demo" / "motd"
    assert motd.read_text().startswith("This machine is managed")
    assert ours(demo_env) == [], "the demo leaves no process behind"

    second, said = demo(tmp_path, demo_env)
    assert "database: applied" not in said, "the second run finds the schema current"
    assert second["counts"]["converged"] == 6 and second["counts"]["changed"] == 0
    assert ours(demo_env) == []


@pytest.mark.slow
def test_ctrl_c_stops_the_demo_and_every_child(tmp_path: Path, demo_env: dict[str, str]) -> None:
    # Enough targets that the rollout is still under way when Ctrl-C arrives, however fast.
    argv = provision_argv("demo", "--targets", "1500", "--state-dir", str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, *argv],
        env={**os.environ, **demo_env},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    wait_until(
        lambda: len(ours(demo_env)) >= 4 or proc.poll() is not None,
        60,
        "the demo's children to start",
    )
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    assert proc.returncode != 0
    wait_until(lambda: not ours(demo_env), 30, "every child to be gone")
