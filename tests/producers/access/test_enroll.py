"""`provision enroll` gives the agent a broker user of its own with exactly the agent role,
never the control plane's URL; and a process without configure rights only checks the
topology."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pika
import pika.exceptions
import pytest

from broker_config import TopologyMissing, declare, region_queue
from broker_config.permissions import agent
from tests.producers.access.conftest import AccessVhost

#: Slow (runs `provision enroll` as a subprocess against the management API), so not in the quick
#: loop, `pytest -m "not slow"`.
pytestmark = pytest.mark.slow

INVENTORY = """\
targets:
  - {id: pull-1, region: eu, environment: prod, delivery: pull, address: "local:///srv/pull-1"}
"""


def enroll(applied: AccessVhost, out: Path, *extra: str) -> tuple[str, str]:
    """Enroll pull-1 into `out`; (its broker URL, what the command printed)."""
    done = applied.iso.provision("enroll", "pull-1", "--out", str(out), *extra)
    assert done.returncode == 0, done.stderr
    url = json.loads((out / "credentials.json").read_text())["broker_url"]
    return url, done.stdout + done.stderr


def test_enroll_creates_the_agents_own_user_with_the_agent_role(
    applied: AccessVhost, tmp_path: Path
) -> None:
    (tmp_path / "inventory.yaml").write_text(INVENTORY)
    loaded = applied.iso.provision("inventory", "load", str(tmp_path / "inventory.yaml"))
    assert loaded.returncode == 0, loaded.stderr
    url, printed = enroll(applied, tmp_path / "creds")

    parts = urlsplit(url)
    user = f"{applied.prefix}-agent-pull-1"
    assert parts.username == user and parts.password and parts.password not in printed
    assert parts.path.lstrip("/") == urlsplit(applied.iso.broker_url).path.lstrip("/")
    role = agent("pull-1", "eu", "prod")
    got = {p["user"]: p for p in applied.api.permissions(applied.vhost)}[user]
    assert (got["configure"], got["write"], got["read"]) == tuple(role.permission)
    topics = {
        t["exchange"]: (t["write"], t["read"])
        for t in applied.api.topic_permissions(applied.vhost)
        if t["user"] == user
    }
    assert topics == {e: tuple(t) for e, t in role.topics.items()}
    pika.BlockingConnection(pika.URLParameters(url)).close()

    again, _ = enroll(applied, tmp_path / "creds")  # enrolling again rotates the password too
    assert again != url
    with pytest.raises(pika.exceptions.ProbableAuthenticationError):
        pika.BlockingConnection(pika.URLParameters(url))


def test_enroll_without_the_management_api_says_what_to_do(
    applied: AccessVhost, tmp_path: Path
) -> None:
    (tmp_path / "inventory.yaml").write_text(INVENTORY)
    applied.iso.provision("inventory", "load", str(tmp_path / "inventory.yaml"))
    done = applied.iso.provision(
        "enroll",
        "pull-1",
        "--out",
        str(tmp_path / "c"),
        "--admin-url",
        "http://admin:s3cret@127.0.0.1:1",
    )
    assert done.returncode == 3
    assert "--broker-url" in done.stderr and "rabbitmq_management" in done.stderr
    assert "s3cret" not in done.stdout + done.stderr
    assert not (tmp_path / "c" / "credentials.json").exists()


def test_a_process_without_configure_rights_checks_the_topology_instead(
    applied: AccessVhost,
) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(applied.url("worker", "eu")))
    try:
        assert region_queue("eu") in declare(connection, ["eu"])
        with pytest.raises(
            TopologyMissing, match=r"provision\.changes\.zz.*provision access apply"
        ):
            declare(connection, ["zz"])
    finally:
        connection.close()
