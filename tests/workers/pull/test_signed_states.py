"""An agent converges only rendered states the controller signed when it rendered them
(issue 15, item 5), against a real controller, RabbitMQ, Redis and PostgreSQL.

A state edited in the system of record after it was published (where rendered states are
kept: `rendered_states`) is refused by the agent: nothing is applied, and the refusal is
reported as a `rejected` outcome the aggregator records.
"""

from __future__ import annotations

import json

from contracts import OutcomeStatus
from contracts.controller_signatures import check_state
from contracts.signatures import public_pem
from tests.isolation import controller_key
from tests.workers.pull.conftest import PullPlane

MOTD = "etc/motd"


def edit_stored_state(plane: PullPlane, revision: int, target_id: str, old: str, new: str) -> None:
    """Edit one stored rendered state, as someone with write access to the database would
    (the append-only trigger is switched off for the edit and back on)."""
    with plane.db.connection() as conn, conn.transaction():
        conn.execute("ALTER TABLE rendered_states DISABLE TRIGGER rendered_states_append_only")
        row = conn.execute(
            "SELECT state FROM rendered_states WHERE revision = %s AND target = %s",
            (revision, target_id),
        ).fetchone()
        assert row is not None
        edited = bytes(row[0]).replace(old.encode(), new.encode())
        assert edited != bytes(row[0])
        conn.execute(
            "UPDATE rendered_states SET state = %s WHERE revision = %s AND target = %s",
            (edited, revision, target_id),
        )
        conn.execute("ALTER TABLE rendered_states ENABLE TRIGGER rendered_states_append_only")


def test_the_agent_converges_a_signed_state_and_enrollment_gives_it_the_public_key(
    plane: PullPlane,
) -> None:
    revision, creds = plane.enrolled("p00", "signed\n", change_id="c-signed")
    written = json.loads((creds / "credentials.json").read_text())
    assert written["controller_public_key"] == public_pem(controller_key())
    stored = plane.store.rendered(revision, "p00")
    signature = plane.store.signature(revision, "p00")
    check_state(controller_key().public_key(), "p00", revision, stored, signature)

    done = plane.agent("p00")

    assert done.returncode == 0, done.stdout + done.stderr
    assert (plane.root("p00") / MOTD).read_text() == "signed\n"
    assert plane.outcome("c-signed", "p00").status == OutcomeStatus.CHANGED


def test_a_rendered_state_edited_in_the_database_is_refused_by_the_agent(
    plane: PullPlane,
) -> None:
    revision, _ = plane.enrolled("p01", "genuine\n", change_id="c-edited")
    edit_stored_state(plane, revision, "p01", "genuine", "planted")

    done = plane.agent("p01")

    assert done.returncode == 1, done.stdout + done.stderr
    assert "bad signature" in done.stdout, done.stdout
    assert not (plane.root("p01") / MOTD).exists(), "nothing may be applied"
    event = plane.outcome("c-edited", "p01")
    assert event.status == OutcomeStatus.REJECTED and event.delivery == "pull"
    assert event.error is not None and event.error.type == "BadSignature"
