"""Who sent an outcome is checked: real role users, each with exactly its role's rights,
publish outcomes that RabbitMQ accepts (the topic permissions allow the routing key), and
the aggregator refuses the ones whose sender may not speak for the target, records the
refusal, and leaves the target's status as it was. The controller's copy likewise.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pika
import pytest

from broker_config import RESULTS_EXCHANGE, Endpoints
from broker_config.connections import speaks_as
from broker_config.permissions import worker
from broker_config.senders import Senders
from contracts import OutcomeEvent, OutcomeStatus, Target
from contracts.inventory import Inventory
from producers.access.management import DEFAULT_ADMIN_URL, Management
from producers.access.users import agent_url, ensure_user, vhost_of
from producers.records.inventory import InventoryStore
from producers.records.ledger import Ledger
from producers.rollouts.controller import Controller
from producers.store import refusals
from tests.isolation import (
    Isolated,
    controller_key,
    drop_users,
    need,
    provision,
    reachable,
    wait_until,
)
from tests.producers.records.conftest import Plane, outcome, running

#: Slow: role users through the management API, an aggregator serving in a thread.
pytestmark = pytest.mark.slow

#: target -> (region, environment)
FLEET = {"web-1": ("eu", "prod"), "web-2": ("us", "prod")}


@dataclass
class Users:
    prefix: str
    urls: dict[str, str]  # user -> broker URL
    senders: Senders

    def url(self, role: str, instance: str) -> str:
        return self.urls[f"{self.prefix}-{role}-{instance}"]


@pytest.fixture(scope="module")
def users(plane: Plane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Users]:
    """The eu and us workers and both targets' agents, on the plane's vhost; guest trusted
    (it publishes the outcomes that set each target's status first)."""
    need(reachable(15672), "the RabbitMQ management API is not reachable on 127.0.0.1:15672")
    prefix = f"t{os.getpid()}-senders"
    api = Management(DEFAULT_ADMIN_URL)
    broker_url = plane.endpoints.broker_url
    vhost, out = vhost_of(broker_url), tmp_path_factory.mktemp("senders")
    fleet = [
        Target(id=t, region=r, environment=e, address=f"local:///srv/{t}")
        for t, (r, e) in FLEET.items()
    ]
    InventoryStore(plane.db).load(Inventory(targets=tuple(fleet)))
    plane.publish([])  # declares the topology
    urls: dict[str, str] = {}
    try:
        for region in ("eu", "us"):
            granted = ensure_user(api, worker(region), vhost, broker_url, out, prefix=prefix)
            urls[granted.user] = Path(granted.path).read_text().strip()
        for target in fleet:
            urls[f"{prefix}-agent-{target.id}"] = agent_url(api, target, broker_url, prefix)
        senders = Senders(prefix, frozenset({"guest"}))
        yield Users(prefix, urls, senders)
    finally:
        drop_users(prefix)


def publish(url: str, key: str, event: OutcomeEvent, user_id: Any = "own") -> None:
    """Publish one outcome, confirmed: RabbitMQ took it (or this raises)."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        properties = pika.BasicProperties(
            content_type="application/json",
            delivery_mode=2,
            user_id=speaks_as(connection) if user_id == "own" else user_id,
        )
        channel.basic_publish(RESULTS_EXCHANGE, key, event.model_dump_json().encode(), properties)
    finally:
        connection.close()


def current(plane: Plane, change_id: str, target: str) -> str:
    found = Ledger(plane.db).status(change_id).outcomes.get(target)
    return found.status.value if found else "pending"


def refused_of(plane: Plane, change_id: str) -> list[refusals.RefusalRow]:
    with plane.db.connection() as conn:
        return refusals.outcome_refusals(conn, change_id=change_id)


def test_forged_outcomes_reach_the_queue_and_are_refused_with_nothing_applied(
    plane: Plane, users: Users
) -> None:
    change_id = str(uuid.uuid4())
    Ledger(plane.db).open_change(
        change_id, list(FLEET), issued_by="tests", issued_at=datetime.now(UTC)
    )
    guest = plane.endpoints.broker_url
    failed = OutcomeStatus.FAILED
    with running(plane, users.senders) as (aggregator, raised):
        publish(guest, "us.prod.web-2", outcome("web-2", failed, change_id=change_id, sequence=1))
        wait_until(lambda: aggregator.recorded >= 1, 30, "guest's outcome recorded")
        assert current(plane, change_id, "web-2") == "failed"
        forged = [
            # web-1's agent, under its own key (all its topic permission allows), for web-2
            (users.url("agent", "web-1"), "eu.prod.web-1", "is the agent of target 'web-1'"),
            # the eu worker, under an eu key, for web-2 of region us
            (users.url("worker", "eu"), "eu.prod.web-2", "is the worker of region 'eu'"),
            # guest, trusted, but saying nothing of who it is
            (guest, "us.prod.web-2", "no user_id"),
        ]
        for url, key, _ in forged:
            sent = outcome("web-2", OutcomeStatus.CHANGED, change_id=change_id, sequence=2)
            publish(url, key, sent, user_id=None if "guest" in url else "own")
        wait_until(lambda: aggregator.refused >= 3, 30, "three forged outcomes refused")
        assert current(plane, change_id, "web-2") == "failed", "no forged outcome applied"
        reasons = [r.reason for r in refused_of(plane, change_id)]
        for _, _, why in forged:
            assert any(why in reason and "by the aggregator" in reason for reason in reasons), (
                why,
                reasons,
            )
        assert all(r.target == "web-2" for r in refused_of(plane, change_id))

        # The ones who may: web-2's own agent, then the us worker.
        for url, sequence in ((users.url("agent", "web-2"), 3), (users.url("worker", "us"), 4)):
            status = OutcomeStatus.CONVERGED if sequence == 3 else OutcomeStatus.CHANGED
            sent = outcome("web-2", status, change_id=change_id, sequence=sequence)
            publish(url, "us.prod.web-2", sent)
            wait_until(
                lambda s=status: current(plane, change_id, "web-2") == s.value,
                30,
                f"{status.value} from a sender who may speak for web-2",
            )
    assert not raised and aggregator.refused == 3


def test_without_a_trusted_sender_guest_speaks_for_nobody(plane: Plane, users: Users) -> None:
    change_id = str(uuid.uuid4())
    Ledger(plane.db).open_change(change_id, ["web-1"], issued_by="t", issued_at=datetime.now(UTC))
    strict = Senders(users.prefix)
    with running(plane, strict) as (aggregator, raised):
        publish(plane.endpoints.broker_url, "eu.prod.web-1", outcome("web-1", change_id=change_id))
        wait_until(lambda: aggregator.refused >= 1, 30, "guest's outcome refused")
    assert not raised and current(plane, change_id, "web-1") == "pending"
    [row] = refused_of(plane, change_id)
    assert "'guest' may not speak for target 'web-1'" in row.reason, row.reason


def test_the_controller_copy_of_a_forged_outcome_frees_nothing_and_is_recorded(
    plane: Plane, users: Users
) -> None:
    controller = Controller(Endpoints(), key=controller_key(), senders=users.senders)
    controller.db = plane.db
    targets = {
        t: Target(id=t, region=r, environment=e, address="local:///x")
        for t, (r, e) in FLEET.items()
    }
    rollout: Any = SimpleNamespace(targets=targets)
    change_id = str(uuid.uuid4())
    event = outcome("web-2", change_id=change_id)
    assert controller._may_speak(rollout, event, f"{users.prefix}-worker-us")
    assert controller._may_speak(rollout, event, f"{users.prefix}-agent-web-2")
    assert controller._may_speak(rollout, event, "guest")
    assert not controller._may_speak(rollout, event, f"{users.prefix}-worker-eu")
    assert not controller._may_speak(rollout, event, None)
    reasons = [r.reason for r in refused_of(plane, change_id)]
    assert len(reasons) == 2 and all("by the controller" in r for r in reasons), reasons


def test_status_and_failures_show_the_refused_outcomes(
    plane: Plane, users: Users, session_services: Isolated
) -> None:
    change_id = str(uuid.uuid4())
    Ledger(plane.db).open_change(change_id, ["web-1"], issued_by="t", issued_at=datetime.now(UTC))
    with running(plane, users.senders) as (aggregator, _):
        sent = outcome("web-1", change_id=change_id)
        publish(users.url("agent", "web-2"), "us.prod.web-2", sent)
        wait_until(lambda: aggregator.refused >= 1, 30, "web-2's agent refused for web-1")
    env = {**session_services.env, "PROVISION_DATABASE_URL": plane.db.url}
    shown = provision("status", change_id, "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    [row] = json.loads(shown.stdout)["refused_outcomes"]
    assert row["target"] == "web-1" and "is the agent of target 'web-2'" in row["reason"]
    text = provision("status", change_id, env=env)
    assert "refused:" in text.stdout and "web-2" in text.stdout, text.stdout
    failures = provision("failures", "--since", "10m", "--json", env=env)
    assert failures.returncode == 0, failures.stderr
    reasons = [r["reason"] for r in json.loads(failures.stdout)["refused_outcomes"]]
    assert any(change_id in reason for reason in reasons), reasons
