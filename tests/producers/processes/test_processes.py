"""The one supervisor and the one command line of our processes (with no services), and the
schema check every long-running process makes at start (with PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from contracts import ExitCode
from producers.processes.commands import (
    aggregator_argv,
    controller_argv,
    dashboard_argv,
    provision_argv,
    worker_argv,
)
from producers.processes.supervisor import ChildDied, Supervisor
from producers.store.migrate import available
from tests.databases import drop_database, make_database
from tests.isolation import ROOT, provision, wait_until


def _help(argv: list[str]) -> str:
    done = subprocess.run(
        [sys.executable, *argv, "--help"], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _flags(argv: list[str]) -> list[str]:
    return [item for item in argv if item.startswith("--")]


def test_every_worker_flag_the_command_line_can_emit_is_one_provision_worker_takes() -> None:
    argv = worker_argv(
        "eu",
        allow=["local:///srv/*", "local:///opt/**"],
        concurrency=3,
        name="n@%h",
        loglevel="INFO",
        pool="solo",
        rate_limit="5/s",
        controller_public_key="/keys/controller.pub",
        max_tasks_per_child=100,
    )
    assert argv.count("--allow") == 2
    assert argv[argv.index("--controller-public-key") + 1] == "/keys/controller.pub"
    assert argv[:3] == ["-m", "workers", "worker"]
    assert argv[argv.index("--concurrency") + 1] == "3"
    text = _help(argv[:3])
    assert _flags(argv) and all(flag in text for flag in _flags(argv)), text


def test_the_controller_flags_are_the_controllers_and_the_defaults_are_bare() -> None:
    argv = controller_argv(
        checkin_rate=100.0, checkin_burst=10, controller_key="/keys/controller.key"
    )
    assert argv == [
        "-m",
        "producers",
        "controller",
        "--controller-key",
        "/keys/controller.key",
        "--checkin-rate",
        "100",
        "--checkin-burst",
        "10",
    ]
    text = _help(argv[:3])
    assert all(flag in text for flag in _flags(argv)), text
    assert controller_argv() == provision_argv("controller")
    assert aggregator_argv() == ["-m", "producers", "aggregator"]
    assert worker_argv("us") == ["-m", "workers", "worker", "--region", "us", "--concurrency", "2"]


def test_the_dashboard_flags_are_provision_dashboard_s() -> None:
    argv = dashboard_argv(host="0.0.0.0", port=9000, operator_credentials="/etc/ops.url")
    assert argv[:3] == ["-m", "producers", "dashboard"]
    assert argv[argv.index("--port") + 1] == "9000"
    text = _help(argv[:3])
    assert all(flag in text for flag in _flags(argv)), text
    assert "--operator-credentials" not in dashboard_argv()


def test_a_dead_child_is_named_with_its_exit_code_and_its_output(tmp_path: Path) -> None:
    with Supervisor(tmp_path / "logs") as supervisor:
        child = supervisor.start("crasher", ["-c", "print('boom here'); raise SystemExit(3)"])
        wait_until(lambda: not child.alive(), 30, "the child to exit")
        assert supervisor.failed() == ["crasher (exit 3)"]
        with pytest.raises(ChildDied, match="crasher exited with 3") as died:
            supervisor.check()
        assert "boom here" in str(died.value)


def test_a_restart_replaces_the_child_and_its_text_is_this_runs_only(tmp_path: Path) -> None:
    script = "import sys, time; print(sys.argv[1], flush=True); time.sleep(60)"
    with Supervisor(tmp_path / "logs") as supervisor:
        first = supervisor.start("svc", ["-c", script, "first"])
        wait_until(lambda: "first" in first.text(), 30, "the first run's output")
        second = supervisor.start("svc", ["-c", script, "second"])
        assert not first.alive(), "the name's old child is stopped"
        wait_until(lambda: "second" in second.text(), 30, "the second run's output")
        assert "first" not in second.text() and "first" in second.log.read_text()
        assert list(supervisor.children) == ["svc"] and supervisor.failed() == []


def test_stop_takes_the_whole_process_group_with_it(tmp_path: Path) -> None:
    script = (
        "import subprocess, sys, time\n"
        "kid = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print(kid.pid, flush=True); time.sleep(60)\n"
    )
    supervisor = Supervisor(tmp_path / "logs")
    child = supervisor.start("parent", ["-c", script])
    pid = int(wait_until(lambda: child.text().strip(), 30, "the grandchild's pid"))
    supervisor.stop()
    assert not child.alive()
    wait_until(
        lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie",
        10,
        "the grandchild to go",
    )
    assert supervisor.children == {}


@pytest.mark.slow
@pytest.mark.parametrize("command", ["aggregator", "controller"])
def test_a_process_started_on_an_unmigrated_database_says_what_to_run_and_exits(
    command: str, services: dict[str, str]
) -> None:
    name = f"provisioning_test_unmigrated_{command}_{os.getpid()}"
    url = make_database(name, migrated=False)
    try:
        done = provision(command, env={**services, "PROVISION_DATABASE_URL": url}, timeout_s=30)
    finally:
        drop_database(name)
    assert done.returncode == ExitCode.UNREACHABLE, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: the database has no schema yet, this provision needs version "
        f"{len(available())}: run `provision db migrate`"
    ], done.stderr
