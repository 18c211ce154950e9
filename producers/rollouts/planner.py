"""The planner, pure: selected targets and a rollout policy in, waves with error budgets out.

Wave bounds are cumulative: `[1, "10%", "50%", "100%"]` is a canary of one target, then
up to 10%, 50% and all of the selection. Percentages round up, so a non-empty share never
rounds to nothing; bounds past the selection clip to it; a bound that, after rounding,
adds nobody is dropped. A bound below the one before is impossible and refused. Whatever
the list leaves out forms a last wave, so a rollout always covers its whole selection.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from contracts.events import RolloutPolicy, percent_of
from contracts.targets import Target
from producers.errors import SelectionError


class PlanError(SelectionError):
    """The waves asked for cannot be planned."""


@dataclass(frozen=True)
class Wave:
    """One step of a rollout: which targets, and how many of them may fail."""

    index: int
    targets: tuple[str, ...]
    max_failures: int


@dataclass(frozen=True)
class RolloutPlan:
    waves: tuple[Wave, ...]

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(t for wave in self.waves for t in wave.targets)


def wave_bounds(total: int, waves: Sequence[int | str]) -> list[int]:
    """Cumulative end of each wave over `total` targets (see the module docstring)."""
    if total <= 0:
        raise PlanError("the selection is empty: there is nothing to roll out")
    bounds: list[int] = []
    for index, amount in enumerate(waves):
        bound = min(total, math.ceil(percent_of(amount, total) - 1e-9))
        bound = max(bound, 1)
        previous = bounds[-1] if bounds else 0
        if bound < previous:
            raise PlanError(
                f"impossible waves: wave {index + 1} ({amount!r} = {bound} targets) "
                f"ends before wave {index} ({previous} targets); bounds are "
                "cumulative and may not decrease"
            )
        if bound > previous:
            bounds.append(bound)
    if bounds[-1] < total:
        bounds.append(total)
    return bounds


def failure_budget(size: int, max_failures: int | str) -> int:
    """How many of a wave's `size` targets may fail; percentages round down."""
    if isinstance(max_failures, int):
        return max_failures
    return math.floor(percent_of(max_failures, size) + 1e-9)


def plan_rollout(targets: Sequence[Target], policy: RolloutPolicy) -> RolloutPlan:
    """Split the selection (in id order, so plans are reproducible) into waves."""
    ordered = sorted(targets, key=lambda t: t.id)
    bounds = wave_bounds(len(ordered), policy.waves)
    waves = []
    start = 0
    for index, end in enumerate(bounds):
        ids = tuple(t.id for t in ordered[start:end])
        waves.append(Wave(index, ids, failure_budget(len(ids), policy.max_failures)))
        start = end
    return RolloutPlan(tuple(waves))
