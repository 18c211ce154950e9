"""A pull run carries the check-in reply's sequence into its outcome, in-process (no services):
converged, superseded and rejected outcomes alike, and an offline run reuses the sequence of
the state it converges from the cache."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contracts import FileSpec, OutcomeStatus, Target
from contracts.checkins import CheckinReply
from contracts.inventory import Inventory
from contracts.truth import RoleFile, SourceBundle
from producers.truth.render import render_bytes
from workers.pull.run import PullRun
from workers.pull.state import AgentState


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
    )


def reply(revision: int, sequence: int | None, state: str | None = None) -> CheckinReply:
    target = Target(
        id="seq-1", region="eu", environment="test", roles=("base",), address="local:///x"
    )
    bundle = SourceBundle(
        inventory=Inventory(targets=(target,)),
        roles={"base": RoleFile(resources=(FileSpec(path="/etc/motd", content=f"{revision}\n"),))},
    )
    rendered = render_bytes(bundle, "seq-1", revision).decode()
    return CheckinReply(
        admitted=True,
        revision=revision,
        change_id=f"c-{revision}",
        state=rendered if state is None else state,
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
