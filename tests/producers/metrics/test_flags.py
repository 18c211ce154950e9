"""`--metrics-port` and `PROVISION_METRICS_PORT` on the controller, the aggregator and the
worker: spelled once by the command-line builders, refused with one line when taken."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from contracts.command_line import METRICS_PORT_ENV
from producers.processes.commands import aggregator_argv, controller_argv, worker_argv
from tests.isolation import ROOT, provision

pytestmark = pytest.mark.slow


@pytest.fixture
def taken() -> Iterator[int]:
    """A port something listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_the_builders_pass_the_port_and_every_command_takes_it() -> None:
    for argv in (
        controller_argv(metrics_port=9101),
        aggregator_argv(metrics_port=9102),
        worker_argv("eu", metrics_port=9103),
    ):
        assert argv[argv.index("--metrics-port") + 1].startswith("910")
        command = argv[: argv.index("worker") + 1] if "worker" in argv else argv[:3]
        done = subprocess.run(
            [sys.executable, *command, "--help"], capture_output=True, text=True, cwd=ROOT
        )
        assert done.returncode == 0, done.stderr
        assert "--metrics-port" in done.stdout and "--metrics-host" in done.stdout
        assert METRICS_PORT_ENV in done.stdout
    assert "--metrics-port" not in aggregator_argv() + controller_argv() + worker_argv("eu")


@pytest.mark.parametrize("how", ["flag", "env"])
def test_a_taken_port_stops_the_aggregator_with_one_line_naming_the_flag(
    taken: int, how: str
) -> None:
    """Before the database or the broker is touched: nothing else need be running."""
    if how == "flag":
        done = provision("aggregator", "--metrics-port", str(taken))
    else:
        done = provision("aggregator", env={METRICS_PORT_ENV: str(taken)})
    assert done.returncode == 2, done.stderr
    assert "--metrics-port" in done.stderr and f"127.0.0.1:{taken}" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
