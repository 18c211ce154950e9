"""Planner tables (pure): wave sizes for counts and percentages, rounding, empty selections."""

from __future__ import annotations

import pytest

from contracts import Target
from contracts.events import RolloutPolicy
from producers.rollouts.planner import PlanError, failure_budget, plan_rollout, wave_bounds


@pytest.mark.parametrize(
    ("total", "waves", "bounds"),
    [
        (100, [1, "10%", "50%", "100%"], [1, 10, 50, 100]),
        (15, [1, "10%", "50%", "100%"], [1, 2, 8, 15]),  # 10% of 15 = 1.5 rounds up to 2
        (5, [1, "10%", "50%", "100%"], [1, 3, 5]),  # 10% of 5 rounds to 1: no new wave
        (1, [1, "10%", "50%", "100%"], [1]),
        (10, [2, 5], [2, 5, 10]),  # the rest forms a last wave
        (10, [50], [10]),  # counts clip to the selection
        (10, ["100%"], [10]),
        (3, ["33.4%", "66.7%"], [2, 3]),
        (1000, ["0.1%", "1%"], [1, 10, 1000]),
    ],
)
def test_wave_bounds(total: int, waves: list, bounds: list[int]) -> None:
    assert wave_bounds(total, waves) == bounds


def test_decreasing_waves_are_impossible() -> None:
    with pytest.raises(PlanError, match=r"impossible waves: wave 2 .* may not decrease"):
        wave_bounds(100, [20, "10%"])


def test_an_empty_selection_has_no_plan() -> None:
    with pytest.raises(PlanError, match="empty"):
        wave_bounds(0, ["100%"])


@pytest.mark.parametrize(
    ("size", "budget", "allowed"),
    [
        (10, 0, 0),
        (10, 3, 3),
        (10, "10%", 1),
        (10, "25%", 2),
        (3, "50%", 1),
        (1, "99%", 0),
        (200, "0%", 0),
    ],
)
def test_failure_budget(size: int, budget: int | str, allowed: int) -> None:
    assert failure_budget(size, budget) == allowed


def test_a_plan_covers_every_target_once_in_id_order() -> None:
    targets = [
        Target(
            id=f"t{i:02d}", region="eu" if i % 2 else "us", environment="prod", address="local:///x"
        )
        for i in range(20, 0, -1)
    ]
    plan = plan_rollout(targets, RolloutPolicy(waves=(1, "25%", "100%"), max_failures="20%"))
    assert [len(w.targets) for w in plan.waves] == [1, 4, 15]
    assert plan.waves[0].targets == ("t01",)
    assert sorted(plan.targets) == sorted(t.id for t in targets) and len(set(plan.targets)) == 20
    assert [w.max_failures for w in plan.waves] == [0, 0, 3]
    assert [w.index for w in plan.waves] == [0, 1, 2]
