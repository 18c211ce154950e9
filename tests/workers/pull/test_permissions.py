"""The `agent` role of broker_config.permissions against a real RabbitMQ: exactly enough to
check in and report, and nothing to read or declare."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from collections.abc import Iterator
from urllib.parse import quote, unquote, urlsplit

import pika
import pika.exceptions
import pytest

from broker_config import CHECKINS_QUEUE, RESULTS_QUEUE, region_queue
from broker_config.permissions import PERMISSIONS
from tests.isolation import need
from tests.workers.pull.conftest import PullPlane


def ctl(*args: str) -> subprocess.CompletedProcess:
    path = shutil.which("rabbitmqctl")
    need(path is not None, "rabbitmqctl is needed to create a restricted user")
    return subprocess.run([str(path), "-q", *args], capture_output=True, text=True, timeout=60)


@pytest.fixture
def agent_url(plane: PullPlane) -> Iterator[str]:
    """A user with only the `agent` permissions on the plane's vhost; its broker URL.

    Named as p11's agent (`<prefix>-agent-p11`): the aggregator takes p11's outcomes only
    from its own agent (or the worker of its region), by the AMQP user_id."""
    vhost = unquote(urlsplit(plane.env["PROVISION_BROKER_URL"]).path.lstrip("/"))
    user = f"{plane.env['PROVISION_ACCESS_PREFIX']}-agent-p11"
    password = secrets.token_hex(12)  # never a leading '-', which rabbitmqctl takes for a flag
    assert ctl("add_user", user, password).returncode == 0
    done = ctl("set_permissions", "-p", vhost, user, *PERMISSIONS["agent"].argv())
    assert done.returncode == 0, done.stderr
    yield f"amqp://{user}:{password}@127.0.0.1:5672/{quote(vhost, safe='')}"
    ctl("delete_user", user)


def test_a_least_privilege_agent_checks_in_and_reports_but_reads_nothing(
    plane: PullPlane, agent_url: str
) -> None:
    revision = plane.publish("restricted\n")
    plane.assign(["p11"], revision, change_id="c-restricted")
    out = plane.credentials("p11")
    done = plane.provision("enroll", "p11", "--out", str(out), "--broker-url", agent_url)
    assert done.returncode == 0, done.stderr

    ran = plane.agent("p11")

    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert (plane.root("p11") / "etc/motd").read_text() == "restricted\n"
    plane.wait_standing("p11", revision=revision, change_id="c-restricted")
    connection = pika.BlockingConnection(pika.URLParameters(agent_url))
    try:
        for queue in (region_queue("eu"), CHECKINS_QUEUE, RESULTS_QUEUE):
            channel = connection.channel()
            with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
                channel.basic_consume(queue, lambda *a: None)
            assert refused.value.reply_code == 403, queue
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            connection.channel().queue_declare("provision.agent.mine")
        assert refused.value.reply_code == 403
    finally:
        connection.close()
