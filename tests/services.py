"""Whether a service a test needs is there: under CI=true a missing one fails the test,
elsewhere it skips with the reason (a developer without RabbitMQ still runs the rest)."""

from __future__ import annotations

import os

import pytest

from producers.processes.supervisor import port_open

CI = os.environ.get("CI") == "true"


def need(ok: bool, why: str) -> None:
    """Fail under CI, skip elsewhere, when a service the test needs is missing."""
    if ok:
        return
    if CI:
        pytest.fail(f"service missing under CI: {why}")
    pytest.skip(why)


def reachable(port: int) -> bool:
    return port_open(port, timeout_s=2)
