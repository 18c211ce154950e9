"""What one rollout does next, decided purely from its state, its wave's counts and the time.

Every rule of a rollout (deadline, error budget, pause between waves, completion) lives in
`next_step`, which touches no service, so each is table-tested in-process
(tests/rollouts/test_driver.py); `producers.rollouts.driver` reads the records, asks, and
carries the step out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from contracts.events import RolloutState
from producers.rollouts.planner import RolloutPlan
from producers.rollouts.store import failures

StepKind = Literal["idle", "halt", "complete", "advance", "wait", "publish"]


@dataclass(frozen=True)
class Step:
    """What one rollout does next: nothing, halt (why), complete, advance to `wave`,
    wait until `at` (epoch seconds) before the next wave, or publish its current wave."""

    kind: StepKind
    reason: str = ""
    wave: int = 0
    at: float | None = None


IDLE = Step("idle")


def next_step(
    state: RolloutState,
    plan: RolloutPlan,
    wave: int,
    counts: dict[str, int],
    *,
    now: datetime,
    deadline: datetime | None = None,
    pause_s: float = 0.0,
    due: float | None = None,
) -> Step:
    """Decide one rollout's next step from its state, its current wave's counts and the time.

    Pure: `counts` is the current wave's count per status word (`pending` included), `due`
    the epoch second the pause before the next wave ends (None: no pause started).
    """
    if state != RolloutState.RUNNING:
        return IDLE
    if deadline is not None and now >= deadline:
        return Step("halt", "deadline passed")
    current = plan.waves[wave]
    failed = failures(counts)
    if failed > current.max_failures:
        return Step(
            "halt",
            f"wave {wave}: {failed} of {len(current.targets)} failed, more than its "
            f"max_failures of {current.max_failures}; later waves were not published",
        )
    if counts["pending"] > 0:
        return Step("publish", wave=wave)
    if wave + 1 >= len(plan.waves):
        return Step("complete")
    if pause_s > 0:
        if due is None:
            return Step("wait", at=now.timestamp() + pause_s)
        if now.timestamp() < due:
            return IDLE
    return Step("advance", wave=wave + 1)
