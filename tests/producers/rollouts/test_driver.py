"""Driver decisions (pure): what one rollout does next, for every rule of a rollout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contracts import OutcomeStatus
from contracts.events import RolloutState
from producers.rollouts.planner import RolloutPlan, Wave
from producers.rollouts.steps import Step, next_step

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
T = NOW.timestamp()
#: Two waves: a canary of five with a budget of one failure, then five more.
PLAN = RolloutPlan(
    (
        Wave(0, tuple(f"a{i}" for i in range(5)), 1),
        Wave(1, tuple(f"b{i}" for i in range(5)), 0),
    )
)


def counts(**given: int) -> dict[str, int]:
    """A wave's count per status word; pending is the rest of its five targets."""
    result = {status.value: 0 for status in OutcomeStatus}
    result.update(given)
    result["pending"] = 5 - sum(v for k, v in result.items() if k != "pending")
    return result


RUNNING = RolloutState.RUNNING
#: Two of the canary's five failed, over its budget of one: the rollout halts there.
BLOWN = Step(
    "halt", "wave 0: 2 of 5 failed, more than its max_failures of 1; later waves were not published"
)


@pytest.mark.parametrize(
    ("state", "wave", "wave_counts", "options", "step"),
    [
        pytest.param(RolloutState.PAUSED, 0, counts(), {}, Step("idle"), id="paused"),
        pytest.param(RolloutState.HALTED, 0, counts(), {}, Step("idle"), id="halted"),
        pytest.param(RolloutState.COMPLETED, 1, counts(), {}, Step("idle"), id="completed"),
        pytest.param(
            RUNNING,
            0,
            counts(),
            {"deadline": NOW},
            Step("halt", "deadline passed"),
            id="deadline passed",
        ),
        pytest.param(
            RUNNING,
            0,
            counts(),
            {"deadline": NOW + timedelta(seconds=1)},
            Step("publish", wave=0),
            id="deadline ahead",
        ),
        pytest.param(RUNNING, 0, counts(failed=2), {}, BLOWN, id="budget blown"),
        pytest.param(
            RUNNING, 0, counts(failed=1), {}, Step("publish", wave=0), id="budget met, pending"
        ),
        pytest.param(
            RUNNING, 0, counts(rejected=1, not_ready=1), {}, BLOWN, id="rejected, not_ready fail"
        ),
        pytest.param(
            RUNNING, 0, counts(succeeded=5), {}, Step("advance", wave=1), id="done, no pause"
        ),
        pytest.param(
            RUNNING,
            0,
            counts(succeeded=4, failed=1),
            {},
            Step("advance", wave=1),
            id="done within budget",
        ),
        pytest.param(RUNNING, 1, counts(succeeded=5), {}, Step("complete"), id="last wave done"),
        pytest.param(
            RUNNING,
            0,
            counts(succeeded=5),
            {"pause_s": 5.0},
            Step("wait", at=T + 5),
            id="pause starts",
        ),
        pytest.param(
            RUNNING,
            0,
            counts(succeeded=5),
            {"pause_s": 5.0, "due": T + 1},
            Step("idle"),
            id="pause running",
        ),
        pytest.param(
            RUNNING,
            0,
            counts(succeeded=5),
            {"pause_s": 5.0, "due": T},
            Step("advance", wave=1),
            id="pause over",
        ),
        pytest.param(
            RUNNING,
            1,
            counts(succeeded=5),
            {"pause_s": 5.0},
            Step("complete"),
            id="no pause after the last wave",
        ),
        pytest.param(
            RUNNING, 0, counts(succeeded=3), {}, Step("publish", wave=0), id="pending publishes"
        ),
        pytest.param(
            RUNNING,
            1,
            counts(failed=1),
            {},
            Step(
                "halt",
                "wave 1: 1 of 5 failed, more than its max_failures of 0; "
                "later waves were not published",
            ),
            id="zero budget",
        ),
    ],
)
def test_next_step(
    state: RolloutState,
    wave: int,
    wave_counts: dict[str, int],
    options: dict,
    step: Step,
) -> None:
    assert next_step(state, PLAN, wave, wave_counts, now=NOW, **options) == step


def test_the_deadline_comes_before_the_budget() -> None:
    """A rollout past its deadline halts for the deadline, whatever its wave's failures."""
    step = next_step(RUNNING, PLAN, 0, counts(failed=5), now=NOW, deadline=NOW)
    assert step == Step("halt", "deadline passed")


def test_a_blown_budget_halts_even_when_nothing_is_pending() -> None:
    """A finished wave over budget never advances: later waves are not published."""
    step = next_step(RUNNING, PLAN, 0, counts(succeeded=3, failed=2), now=NOW)
    assert step.kind == "halt"
