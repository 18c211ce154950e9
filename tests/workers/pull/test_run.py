"""A pull run carries the check-in reply's sequence into its outcome, in-process (no services):
converged, superseded and rejected outcomes alike, and an offline run reuses the sequence of
the state it converges from the cache. A run converges only a state the controller signed:
an edited, unsigned or foreign-signed state is refused and nothing is applied."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from contracts import FileSpec, OutcomeStatus, Target
from contracts.checkins import CheckinReply
from contracts.controller_signatures import sign_state
from contracts.inventory import Inventory
from contracts.signatures import new_private_key
from contracts.truth import RoleFile, SourceBundle
from producers.truth.render import render_bytes
from workers.pull.run import PullRun
from workers.pull.state import AgentState

#: The controller of these in-process runs (no services, so not the session's pair).
CONTROLLER = new_private_key()


@pytest.fixture
def run(tmp_path: Path) -> PullRun:
    (tmp_path / "root").mkdir()
    return PullRun(
        target_id="seq-1",
        worker="agent@tests",
        state=AgentState(tmp_path / "agent"),
        root=tmp_path / "root",
        report_only=False,
        interval_s=60.0,
        patience_s=5.0,
        stopping=threading.Event(),
        controller_key=CONTROLLER.public_key(),
    )


def reply(
    revision: int, sequence: int | None, state: str | None = None, key: Any = CONTROLLER
) -> CheckinReply:
    """A reply as the desk sends it: the state with the signature made when it was rendered."""
    target = Target(
        id="seq-1", region="eu", environment="test", roles=("base",), address="local:///x"
    )
    bundle = SourceBundle(
        inventory=Inventory(targets=(target,)),
        roles={"base": RoleFile(resources=(FileSpec(path="/etc/motd", content=f"{revision}\n"),))},
    )
    rendered = render_bytes(bundle, "seq-1", revision).decode() if state is None else state
    return CheckinReply(
        admitted=True,
        revision=revision,
        change_id=f"c-{revision}",
        state=rendered,
        state_signature=sign_state(key, "seq-1", revision, rendered.encode()),
        sequence=sequence,
        target=target,
    )


def act(run: PullRun, answer: CheckinReply) -> tuple[OutcomeStatus, int | None]:
    with run.locked(answer.target, run.state.applied()):
        result = run.act(answer, run.state.applied(), datetime.now(UTC))
    assert result.outcome is not None, result
    return result.outcome.status, result.outcome.sequence


def test_every_outcome_carries_the_sequence_it_was_handed(run: PullRun, tmp_path: Path) -> None:
    assert act(run, reply(2, 1000)) == (OutcomeStatus.CHANGED, 1000)
    assert (tmp_path / "root/etc/motd").read_text() == "2\n"
    assert run.state.applied() is not None and run.state.applied().sequence == 1000
    assert act(run, reply(1, 2000)) == (OutcomeStatus.SUPERSEDED, 2000)
    assert act(run, reply(3, 3000, state="{not json")) == (OutcomeStatus.REJECTED, 3000)
    assert act(run, reply(2, None)) == (OutcomeStatus.CONVERGED, None), "an older desk: none"


def test_an_offline_run_reuses_the_cached_states_sequence(run: PullRun, tmp_path: Path) -> None:
    act(run, reply(4, 4000))
    (tmp_path / "root/etc/motd").write_text("edited\n")

    offline = run.offline(run.state.applied(), datetime.now(UTC), "no broker")

    assert offline.outcome is not None and offline.outcome.drift
    assert offline.outcome.sequence == 4000
    assert [p.event.sequence for p in run.state.pending()] == [4000]


def refused(run: PullRun, answer: CheckinReply) -> str:
    """The reason a run refused `answer`; it reports a `rejected` outcome."""
    with run.locked(answer.target, run.state.applied()):
        result = run.act(answer, run.state.applied(), datetime.now(UTC))
    assert result.kind == "refused" and result.outcome is not None, result
    assert result.outcome.status == OutcomeStatus.REJECTED and result.outcome.error is not None
    assert result.outcome.error.type == "BadSignature"
    return result.message


def test_a_state_edited_after_it_was_signed_is_refused_and_nothing_is_applied(
    run: PullRun, tmp_path: Path
) -> None:
    good = reply(5, 5000)
    assert good.state is not None
    edited = good.model_copy(update={"state": good.state.replace("5\\n", "owned\\n")})
    assert edited.state != good.state
    assert "bad signature" in refused(run, edited)
    assert not (tmp_path / "root/etc/motd").exists()
    assert run.state.applied() is None
    assert act(run, good) == (OutcomeStatus.CHANGED, 5000)  # the signed one converges
    assert (tmp_path / "root/etc/motd").read_text() == "5\n"


def test_unsigned_foreign_signed_and_misdirected_states_are_refused(
    run: PullRun, tmp_path: Path
) -> None:
    assert "unsigned" in refused(run, reply(6, 1).model_copy(update={"state_signature": None}))
    assert "bad signature" in refused(run, reply(6, 2, key=new_private_key()))
    moved = reply(7, 3).model_copy(update={"revision": 8})  # another revision's signature
    assert "bad signature" in refused(run, moved)
    assert not (tmp_path / "root/etc/motd").exists()


def test_a_run_without_the_controllers_key_converges_nothing(run: PullRun, tmp_path: Path) -> None:
    run.controller_key = None
    assert "re-enroll" in refused(run, reply(2, 1))
    assert not (tmp_path / "root/etc/motd").exists()
