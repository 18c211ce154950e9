"""Admission cut short: a rollout committed as planned, then a lost service before it ran.

The event was not acked, so it comes back; the controller finds its rollout still planned
and finishes the admission (the ledger's change opened again, which is idempotent, and the
rollout set running). Once running, the same event is a no-op. In-process on the rollouts
group's PostgreSQL and Redis; the ledger is a recorder of what the controller asks of it.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from broker_config import Endpoints
from contracts import Target
from contracts.events import ChangeEvent, RolloutState
from contracts.signatures import new_private_key
from producers.rollouts.controller import Controller
from producers.rollouts.planner import plan_rollout
from producers.rollouts.store import RolloutBook
from producers.truth.issuers import Registry
from tests.isolation import Isolated, Isolation, signed_event_headers


class OpenedChanges:
    """Stands in for the ledger: notes every change the controller opens."""

    def __init__(self) -> None:
        self.opened: list[tuple[str, list[str]]] = []

    def open_change(self, change_id: str, targets: list[str], **_: Any) -> None:
        self.opened.append((change_id, targets))


@pytest.fixture
def iso(isolation: Isolation) -> Isolated:
    return isolation("rollouts")


def test_an_admission_cut_short_is_finished_when_the_event_comes_back(iso: Isolated) -> None:
    book = RolloutBook(iso.database, iso.redis)
    targets = [
        Target(id=f"a{i}", region="eu", environment="test", address=f"local:///t/a{i}")
        for i in range(3)
    ]
    body = {
        "event_id": str(uuid.uuid4()),
        "issued_by": "tests",
        "issued_at": datetime.now(UTC).isoformat(),
        "resources": [{"kind": "file", "path": "/etc/motd", "content": "hi\n"}],
        "targets": [t.model_dump(mode="json") for t in targets],
        "rollout": {"waves": [1, "100%"]},
    }
    event = ChangeEvent.model_validate(body)
    rid = event.change_id
    assert book.create(event, plan_rollout(targets, event.rollout), targets)  # then: lost

    controller = Controller(Endpoints(), key=new_private_key())
    ledger = OpenedChanges()
    controller.book, controller.ledger = book, ledger  # type: ignore[assignment]
    controller.db, controller.registry = iso.database, Registry(iso.database)
    raw = json.dumps(body).encode()
    headers = signed_event_headers(iso.env["PROVISION_SIGNING_KEY"], raw)
    assert controller.admit(raw, headers) == rid
    assert ledger.opened == [(rid, ["a0", "a1", "a2"])]
    assert book.meta(rid)["state"] == "running"

    assert controller.admit(raw, headers) == rid  # the same event once more: nothing to do
    assert len(ledger.opened) == 1
    assert [t.to_state for t in book.transitions(rid)] == [
        RolloutState.PLANNED,
        RolloutState.RUNNING,
    ]
