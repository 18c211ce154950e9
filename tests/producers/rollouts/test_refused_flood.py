"""A flood of refused change events: each is dead-lettered, but the audit trail (append-only,
kept for good) takes only the sender's allowance, then one entry with the count."""

from __future__ import annotations

from typing import Any

import pytest

from broker_config import EVENTS_EXCHANGE
from contracts.dead import REASON
from producers.processes.commands import controller_argv
from producers.store import audit
from tests.isolation import Isolation, wait_until
from tests.producers.rollouts.conftest import CONTROLLER_QUEUES

pytestmark = pytest.mark.slow

FLOOD = 7
ALLOWANCE = 2


def refusals_in_trail(iso: Any) -> list[audit.AuditEntry]:
    with iso.database.connection() as conn:
        return [e for e in audit.entries(conn, 0, 100_000) if e.action.startswith("event.refused")]


def test_past_its_allowance_a_sender_is_counted_not_written_one_by_one(
    isolation: Isolation,
) -> None:
    iso = isolation("refusals")  # not "rollouts": the package's fleet keeps using that one
    limit = {"PROVISION_LIMIT_AUDIT_REFUSALS_PER_MIN": str(ALLOWANCE)}
    controller = iso.spawn("controller", controller_argv(), env=limit)
    iso.wait_consuming(*CONTROLLER_QUEUES)
    connection = iso.amqp()
    try:  # unsigned: refused before anything reads the body
        channel = connection.channel()
        channel.confirm_delivery()
        for index in range(FLOOD):
            body = f'{{"change_id": "flood-{index}"}}'.encode()
            channel.basic_publish(EVENTS_EXCHANGE, "tests", body, mandatory=True)
    finally:
        connection.close()
    for index in range(FLOOD):  # every one is still dead-lettered, with its reason
        letter = wait_until(
            lambda i=index: iso.dead_letter_with(f"flood-{i}"), 30, f"the dead letter {index}"
        )
        assert "unsigned" in str((letter[0].headers or {}).get(REASON))
    trail = refusals_in_trail(iso)
    assert [e.action for e in trail] == ["event.refused"] * ALLOWANCE
    controller.stop()  # a clean stop writes the count still open
    counted = [e for e in refusals_in_trail(iso) if e.action == "event.refused.suppressed"]
    assert len(counted) == 1
    assert counted[0].detail["count"] == FLOOD - ALLOWANCE
    assert counted[0].detail["limit"] == "PROVISION_LIMIT_AUDIT_REFUSALS_PER_MIN"
