"""The dashboard's own services (group `dashboard`: vhost, Redis db 4, PostgreSQL database),
an app on them, and records written the way the control plane writes them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from broker_config import Endpoints
from contracts import OutcomeEvent, OutcomeStatus, Target
from contracts.events import RolloutState
from producers.dashboard.app import create_app
from producers.dashboard.operator import OperatorCredentials, OperatorGate
from producers.records.ledger import Ledger
from producers.store import rollouts as books
from producers.store.rollouts import PlannedWave
from tests.isolation import Isolated, Isolation
from tests.producers.store import factories

#: The Host and Origin of the test client's requests.
ORIGIN = "http://testserver"


@pytest.fixture(scope="session")
def dash(isolation: Isolation) -> Isolated:
    return isolation("dashboard")


@pytest.fixture(scope="session")
def dash_db(dash: Isolated) -> Any:
    return dash.database


def target(name: str, environment: str = "test", region: str = "eu") -> Target:
    return Target(id=name, region=region, environment=environment, address=f"local:///t/{name}")


def rollout(db: Any, waves: list[list[str]], *, issued_by: str = "deploy-bot") -> str:
    """A running rollout with every target published, as a controller leaves it; its id."""
    change_id = f"dash-{uuid.uuid4()}"
    plan = [PlannedWave(tuple(target(n) for n in wave), 0) for wave in waves]
    with db.connection() as conn:
        assert books.create(conn, change_id, event_json="{}", issued_by=issued_by, waves=plan)
        books.set_state(conn, change_id, RolloutState.RUNNING)
        for wave in waves:
            books.mark_published(conn, change_id, wave)
    Ledger(db).open_change(
        change_id, [n for w in waves for n in w], issued_by=issued_by, issued_at=datetime.now(UTC)
    )
    return change_id


def outcome(change_id: str, name: str, status: OutcomeStatus, **fields: Any) -> OutcomeEvent:
    """An outcome of `change_id` finished just now, 10 ms after it started (sequence 1)."""
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "started_at": now,
        "finished_at": now + timedelta(milliseconds=10),
        "worker": "eu-1@host",
        "sequence": 1,
    }
    return factories.outcome(name, status, change_id=change_id, **values | fields)


def client(
    dash: Isolated,
    credentials: OperatorCredentials | None = None,
    *,
    tls: bool = False,
    host: str = "testserver",
) -> Any:
    """A test client on an app over the group's records and broker (`tls`: the app as
    `--tls-cert/--tls-key` make it; the client still speaks plain ASGI to it), bound to
    `host` and asking for it by name."""
    from starlette.testclient import TestClient

    endpoints = Endpoints(broker_url=dash.broker_url, redis_url=dash.redis_url)
    gate = OperatorGate(credentials)
    app = create_app(dash.database, endpoints, gate, host=host, tls=tls)
    return TestClient(app, base_url=f"http://{host}", follow_redirects=False)
