"""Rollouts of source-of-truth revisions: push ships the stored bytes, inline pushes become
layers of the truth, and assignments advance wave by wave and stop with a halt."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from contracts import DesiredState
from contracts.truth import RenderedState, canonical_bytes
from producers.pull.assignments import Assignments
from producers.store import outcomes
from producers.truth.revisions import RevisionStore
from producers.truth.source import load
from tests.isolation import controller_key
from tests.producers.rollouts.conftest import RolloutPlane, published_requests


def write_truth(root: Path, targets: list[str], missing: tuple[str, ...] = ()) -> Path:
    """A source of truth whose targets have local roots under `root` (some missing)."""
    truth = root / "truth"
    (truth / "roles").mkdir(parents=True)
    inventory = []
    for target in targets:
        home = root / "hosts" / target
        if target not in missing:
            home.mkdir(parents=True)
        inventory.append(
            {
                "id": target,
                "region": "eu",
                "environment": "prod",
                "roles": ["web"],
                "address": f"local://{home}",
            }
        )
    (truth / "inventory.yaml").write_text(yaml.safe_dump({"targets": inventory}))
    (truth / "roles" / "web.yaml").write_text(
        yaml.safe_dump(
            {
                "resources": [
                    {"kind": "file", "path": "/etc/web.conf", "template": "host={{ id }}\n"}
                ]
            }
        )
    )
    return truth


@pytest.fixture
def truth(fleet: RolloutPlane) -> RevisionStore:
    """The fleet's revisions. They are never deleted: each test uses the numbers it gets,
    and targets of its own (so assignments of other tests do not matter)."""
    return RevisionStore(fleet.iso.database, signer=controller_key())  # as the controller


def assigned_in(fleet: RolloutPlane) -> Assignments:
    return Assignments(fleet.iso.database)


def roll_revision(fleet: RolloutPlane, event_id: str, revision: int) -> str:
    """Roll a published revision out, a canary wave first; the state it ends in."""
    fleet.emit(
        {
            "event_id": event_id,
            "issued_by": "t",
            "revision": revision,
            "rollout": {"waves": [1, "100%"]},
        }
    )
    return fleet.wait_state(event_id, {"completed", "halted"})


def test_a_pushed_revision_carries_the_stored_rendering_byte_for_byte(
    tmp_path: Path, fleet: RolloutPlane, truth: RevisionStore
) -> None:
    source = write_truth(tmp_path, ["r1", "r2"])
    revision = truth.publish(load(source), author="t", message="first").revision.number
    with published_requests(fleet) as requests:
        assert roll_revision(fleet, "8a0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d", revision) == "completed"
    assert sorted(r["target"]["id"] for r in requests) == ["r1", "r2"]
    for request in requests:
        stored = RenderedState.model_validate_json(
            truth.rendered(revision, request["target"]["id"])
        )
        shipped = DesiredState.model_validate(request["desired"])
        assert canonical_bytes(shipped) == canonical_bytes(stored.desired_state())
        assert request["revision"] == revision
    assert (tmp_path / "hosts/r2/etc/web.conf").read_text() == "host=r2\n"
    assignments = assigned_in(fleet)
    assert {t: assignments.get(t).revision for t in ("r1", "r2")} == {
        "r1": revision,
        "r2": revision,
    }


def test_a_revision_whose_stored_state_was_edited_is_never_pushed(
    tmp_path: Path, fleet: RolloutPlane, truth: RevisionStore
) -> None:
    """The controller checks each stored state against the signature made when it was
    rendered before signing it into a request: an edit in the database halts the rollout
    with the reason, and nothing is published or applied."""
    source = write_truth(tmp_path, ["x1"])
    revision = truth.publish(load(source), author="t", message="to edit").revision.number
    with fleet.iso.database.connection() as conn, conn.transaction():
        conn.execute("ALTER TABLE rendered_states DISABLE TRIGGER rendered_states_append_only")
        edited = conn.execute(
            "UPDATE rendered_states SET state = convert_to(replace("
            "convert_from(state, 'UTF8'), 'host=', 'owned='), 'UTF8')"
            " WHERE revision = %s AND target = 'x1' AND position('host=' in"
            " convert_from(state, 'UTF8')) > 0",
            (revision,),
        )
        assert edited.rowcount == 1
        conn.execute("ALTER TABLE rendered_states ENABLE TRIGGER rendered_states_append_only")
    event_id = "5d6e7f80-9a1b-4c2d-8e3f-405162738495"
    with published_requests(fleet) as requests:
        assert roll_revision(fleet, event_id, revision) == "halted"
    assert requests == []
    assert not (tmp_path / "hosts/x1/etc/web.conf").exists()
    shown = fleet.iso.provision("rollout", "status", event_id, "--json")
    assert "bad signature" in shown.stdout, shown.stdout + shown.stderr


def test_an_inline_push_is_recorded_as_a_layer_and_survives_the_next_publish(
    tmp_path: Path, fleet: RolloutPlane, truth: RevisionStore
) -> None:
    source = write_truth(tmp_path, ["l1", "l2"])
    base = truth.publish(load(source), author="t", message="base").revision.number
    event = {
        "event_id": "1b2c3d4e-5f60-4718-9a2b-3c4d5e6f7a8b",
        "issued_by": "svc",
        "selector": {"targets": ["l1"]},
        "resources": [{"kind": "file", "path": "/etc/hotfix", "content": "on\n"}],
    }
    fleet.emit(event)
    assert fleet.wait_state(event["event_id"], {"completed", "halted"}) == "completed"
    layered = truth.latest_number()
    assert layered == base + 1
    assert truth.get(layered).message == f"event {event['event_id']}"
    shown = RenderedState.model_validate_json(truth.rendered(layered, "l1"))
    assert [r.path for r in shown.desired.resources] == ["/etc/web.conf", "/etc/hotfix"]
    untouched = RenderedState.model_validate_json(truth.rendered(layered, "l2"))
    assert [r.path for r in untouched.desired.resources] == ["/etc/web.conf"]
    assert (tmp_path / "hosts/l1/etc/hotfix").read_text() == "on\n"

    from producers.cli.state import _publish

    republished, _ = _publish(truth, load(source), "t", "again from the directory", lambda *_: None)
    again = RenderedState.model_validate_json(truth.rendered(republished.revision.number, "l1"))
    assert "/etc/hotfix" in [r.path for r in again.desired.resources], "a publish keeps it"


def test_a_halted_rollout_leaves_later_waves_on_their_old_revision(
    tmp_path: Path, fleet: RolloutPlane, truth: RevisionStore
) -> None:
    source = write_truth(tmp_path, ["h0", "h1", "h2"], missing=("h0",))
    first = truth.publish(load(source), author="t", message="one").revision.number
    assignments = assigned_in(fleet)
    for target in ("h0", "h1", "h2"):
        assignments.assign(target, first, "earlier")
    (source / "roles" / "web.yaml").write_text(
        yaml.safe_dump(
            {"resources": [{"kind": "file", "path": "/etc/web.conf", "content": "v2\n"}]}
        )
    )
    second = truth.publish(load(source), author="t", message="two").revision.number
    assert roll_revision(fleet, "2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f", second) == "halted"
    assert assignments.get("h0").revision == second, "the canary was assigned"
    assert assignments.get("h1").revision == first, "later waves keep the old revision"
    assert assignments.get("h2").revision == first
    assert not (tmp_path / "hosts/h1/etc/web.conf").exists()
    assert assignments.assign("h0", first, "older") is False, "assignments never go back"


def test_pushing_an_older_revision_than_the_applied_one_is_superseded(
    tmp_path: Path, fleet: RolloutPlane, truth: RevisionStore
) -> None:
    source = write_truth(tmp_path, ["s1"])
    old = truth.publish(load(source), author="t", message="old").revision.number
    (source / "roles" / "web.yaml").write_text(
        yaml.safe_dump(
            {"resources": [{"kind": "file", "path": "/etc/web.conf", "content": "new\n"}]}
        )
    )
    new = truth.publish(load(source), author="t", message="new").revision.number
    newer = {"event_id": "3d4e5f6a-7b8c-4d9e-8f0a-1b2c3d4e5f6a", "issued_by": "t", "revision": new}
    fleet.emit(newer)
    assert fleet.wait_state(newer["event_id"], {"completed", "halted"}) == "completed"
    older = {"event_id": "4e5f6a7b-8c9d-4e0f-9a1b-2c3d4e5f6a7b", "issued_by": "t", "revision": old}
    fleet.emit(older)
    assert fleet.wait_state(older["event_id"], {"completed", "halted"}) == "completed"
    with fleet.iso.database.connection() as conn:
        stored = outcomes.latest_in_change(conn, older["event_id"])["s1"]
    assert stored.event.status == "superseded" and stored.event.error is not None
    assert f"revision {old} is older than revision {new}" in stored.event.error.message
    assert (tmp_path / "hosts/s1/etc/web.conf").read_text() == "new\n"
    assert assigned_in(fleet).get("s1").revision == new
