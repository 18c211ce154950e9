"""The pull agent converges its own root: a check-in reply naming another address is refused
and reported `rejected`, and nothing is written where it pointed (issue 14, item 4)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contracts import FileSpec, OutcomeStatus, Target
from contracts.checkins import CheckinReply
from contracts.controller_signatures import sign_state
from contracts.inventory import Inventory
from contracts.signatures import new_private_key
from contracts.truth import RoleFile, SourceBundle
from producers.truth.render import render_bytes
from tests.workers.pull.conftest import PullPlane
from workers.pull.own_root import foreign, own_address
from workers.pull.run import PullResult, PullRun
from workers.pull.state import AgentState

#: The controller of these in-process runs: it signs the replies' states.
CONTROLLER = new_private_key()


def reply(address: str, path: str) -> CheckinReply:
    target = Target(id="own-1", region="eu", environment="test", roles=("r",), address=address)
    bundle = SourceBundle(
        inventory=Inventory(targets=(target,)),
        roles={"r": RoleFile(resources=(FileSpec(path=path, content="planted\n"),))},
    )
    state = render_bytes(bundle, "own-1", 1).decode()
    signature = sign_state(CONTROLLER, "own-1", 1, state.encode())
    return CheckinReply(
        admitted=True,
        revision=1,
        change_id="c-1",
        state=state,
        state_signature=signature,
        target=target,
    )


def run_once(tmp_path: Path, answer: CheckinReply, enrolled: str | None) -> PullResult:
    run = PullRun(
        target_id="own-1",
        worker="agent@tests",
        state=AgentState(tmp_path / "agent"),
        root=None,
        report_only=False,
        interval_s=60.0,
        patience_s=5.0,
        stopping=threading.Event(),
        enrolled=enrolled,
        controller_key=CONTROLLER.public_key(),
    )
    # Not under run.locked: without enrollment that would lock the real `/`.
    return run.act(answer, None, datetime.now(UTC))


@pytest.mark.parametrize(
    ("enrolled", "named"),
    [
        ("mine", "elsewhere"),
        ("mine", "mine/../elsewhere"),
        ("mine", "/"),
        (None, "elsewhere"),  # credentials from before enrollment kept the address
    ],
)
def test_a_reply_naming_another_root_is_refused_and_reported(
    tmp_path: Path, enrolled: str | None, named: str
) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "elsewhere").mkdir()
    address = "local:///" if named == "/" else f"local://{tmp_path / named}"
    own = f"local://{tmp_path / 'mine'}" if enrolled else None
    # Were the reply obeyed, the file would land in `elsewhere` (or, rooted at /, in tmp_path).
    result = run_once(tmp_path, reply(address, f"{tmp_path}/planted"), own)
    assert result.kind == "refused" and not result.ok, result
    assert result.outcome is not None and result.outcome.status == OutcomeStatus.REJECTED
    assert result.outcome.error is not None and result.outcome.error.type == "ForeignRoot"
    assert repr(address) in result.message and "cannot choose the root" in result.message
    assert not list((tmp_path / "elsewhere").iterdir())
    assert not (tmp_path / "planted").exists()
    assert not (tmp_path / "mine" / str(tmp_path).lstrip("/")).exists()


def test_a_reply_naming_the_enrolled_root_in_any_spelling_converges_it(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    own = f"local://{tmp_path / 'mine'}"
    spelled = f"local://localhost{tmp_path}//mine/"
    result = run_once(tmp_path, reply(spelled, "/etc/motd"), own)
    assert result.outcome is not None and result.outcome.status == OutcomeStatus.CHANGED, result
    assert (tmp_path / "mine/etc/motd").read_text() == "planted\n"


def test_the_root_comes_from_the_configuration_only(tmp_path: Path) -> None:
    assert own_address(tmp_path, "local:///srv/x") == f"local://{tmp_path}"
    assert own_address(None, "local:///srv/x") == "local:///srv/x"
    assert own_address(None, "ssh://host/") == "local:///"
    assert own_address(None, None) == "local:///"
    elsewhere = Target(id="t", region="eu", environment="e", address="local:///etc")
    assert foreign(elsewhere, tmp_path, None) is None, "--root decides; nothing to compare"
    assert foreign(elsewhere, tmp_path, "local:///srv/x") is not None
    pushed = elsewhere.model_copy(update={"address": "ssh://host/"})
    assert foreign(pushed, None, None) is None, "how push reaches it, not a root on it"
    assert foreign(None, None, "local:///srv/x") is None


def test_an_enrolled_agent_refuses_a_revision_that_moves_its_root(plane: PullPlane) -> None:
    target_id = "p12"
    plane.publish("before\n")
    creds = plane.enroll(target_id)
    enrolled = json.loads((creds / "credentials.json").read_text())["address"]
    assert enrolled == f"local://{plane.root(target_id)}"
    elsewhere = plane.base / "elsewhere"
    elsewhere.mkdir()
    moved = [
        t.model_copy(update={"address": f"local://{elsewhere}"}) if t.id == target_id else t
        for t in plane.targets
    ]
    bundle = SourceBundle(
        inventory=Inventory(targets=tuple(moved)),
        roles={"base": RoleFile(resources=(FileSpec(path="/etc/motd", content="moved\n"),))},
    )
    revision = plane.store.publish(bundle, author="tests", message="moved").revision.number
    plane.assign([target_id], revision, change_id="c-moved")

    done = plane.agent(target_id)

    assert done.returncode == 1, done.stdout + done.stderr
    assert "refused" in done.stdout and "cannot choose the root" in done.stdout, done.stdout
    event = plane.outcome("c-moved", target_id)
    assert event.status == "rejected" and event.error is not None
    assert event.error.type == "ForeignRoot" and str(elsewhere) in event.error.message
    assert not list(elsewhere.iterdir()), "nothing written where the reply pointed"
    assert not (plane.root(target_id) / "etc/motd").exists(), "nor in its own root"
