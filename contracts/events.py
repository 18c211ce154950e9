"""The change event: the public contract by which other services ask for a change.

A service publishes this JSON on the topic exchange `provision.events` (any routing key),
signed by one of its issuer's keys (headers `x-provision-key-id` and `x-provision-signature`,
Ed25519 over the exact body bytes); `provision controller` verifies it, validates it, plans
waves and rolls it out. `event_id` is chosen by the emitter and is the rollout's id, so the
same bytes again are a no-op, and other bytes under a seen id are refused as replayed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated

from pydantic import (
    UUID4,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PositiveInt,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from contracts import limits
from contracts.resources import ResourceSpec
from contracts.targets import Selector, Target

#: The AMQP header naming the key that signed an event (an issuer's key id).
KEY_ID_HEADER = "x-provision-key-id"
#: The AMQP header holding the Ed25519 signature of the exact body bytes, standard base64.
SIGNATURE_HEADER = "x-provision-signature"

_PERCENT = re.compile(r"^([0-9]+(?:\.[0-9]+)?)%$")
_AMOUNT_SCHEMA = {
    "anyOf": [
        {"type": "integer", "minimum": 1},
        {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?%$"},
    ]
}


def _amount(minimum: int) -> Callable[[object], int | str]:
    def check(value: object) -> int | str:
        if isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
            return value
        if isinstance(value, str):
            match = _PERCENT.match(value)
            if match and minimum <= float(match.group(1)) <= 100 and float(match.group(1)) > 0:
                return value
            if match and minimum == 0 and float(match.group(1)) == 0:
                return value
        raise ValueError(
            f"expected a count >= {minimum} or a percentage such as '10%' "
            f"(at most 100%), got {value!r}"
        )

    return check


#: A wave bound: a count of targets, or a percentage of the selected targets.
Amount = Annotated[int | str, BeforeValidator(_amount(1)), WithJsonSchema(_AMOUNT_SCHEMA)]
#: A failure budget: a count (0 allowed) or a percentage of the wave.
Budget = Annotated[int | str, BeforeValidator(_amount(0)), WithJsonSchema(_AMOUNT_SCHEMA)]


class RolloutPolicy(BaseModel):
    """How a change ripples through the fleet: waves, error budget and pacing."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    waves: tuple[Amount, ...] = Field(
        default=("100%",),
        min_length=1,
        description="Cumulative wave bounds: [1, '10%', '50%', '100%'] is a canary of one, "
        "then up to 10%, 50% and all of the selected targets.",
    )
    max_failures: Budget = Field(
        default=0, description="Failures a wave may have (count or % of the wave) and go on."
    )
    max_in_flight: PositiveInt | None = Field(
        default=None, description="Requests in flight at once, per region; none: unbounded."
    )
    rate_per_s: float | None = Field(
        default=None, gt=0, description="Requests published per second, per region."
    )
    pause_s: float = Field(default=0.0, ge=0, le=86_400, description="Pause between waves.")

    @field_validator("waves")
    @classmethod
    def _few_waves(cls, waves: tuple[int | str, ...]) -> tuple[int | str, ...]:
        if len(waves) > limits.WAVES:
            raise ValueError(_over("waves", len(waves), "WAVES", limits.WAVES))
        return waves

    @field_validator("rate_per_s")
    @classmethod
    def _sane_rate(cls, rate: float | None) -> float | None:
        low, high = limits.RATE_MIN_PER_S, limits.RATE_MAX_PER_S
        if rate is not None and not low <= rate <= high:
            env = limits.limit("RATE_MIN_PER_S").env, limits.limit("RATE_MAX_PER_S").env
            raise ValueError(
                f"rate_per_s {rate:g} is outside [{low:g}, {high:g}] ({env[0]}, {env[1]})"
            )
        return rate


class ChangeEvent(BaseModel):
    """Ask for a change: which targets, what desired state, how to roll it out, until when."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: UUID4 = Field(description="Chosen by the emitter; the rollout's id; idempotent.")
    issued_by: str = Field(
        min_length=1,
        description="The emitting service or user, as it calls itself; the controller records "
        "the issuer its signature proves instead.",
    )
    issued_at: AwareDatetime | None = Field(
        default=None,
        description="When the event was signed. Required by the controller: an event "
        "without one, or outside PROVISION_LIMIT_EVENT_WINDOW_S of its clock, is refused.",
    )
    selector: Selector = Field(default_factory=Selector)
    resources: tuple[ResourceSpec, ...] = Field(
        default=(), description="Inline desired state of each target (or give `revision`)."
    )
    revision: int | None = Field(
        default=None,
        ge=1,
        description="Roll out this source-of-truth revision instead of inline resources.",
    )
    rollout: RolloutPolicy = Field(default_factory=RolloutPolicy)
    deadline: AwareDatetime | None = Field(
        default=None, description="After this, nothing more is published or applied."
    )
    dry_run: bool = False
    targets: tuple[Target, ...] | None = Field(
        default=None, description="An inline fleet to select from instead of the inventory."
    )

    @field_validator("targets")
    @classmethod
    def _few_targets(cls, targets: tuple[Target, ...] | None) -> tuple[Target, ...] | None:
        if targets is not None and len(targets) > limits.TARGETS_PER_EVENT:
            bound = limits.TARGETS_PER_EVENT
            raise ValueError(_over("targets", len(targets), "TARGETS_PER_EVENT", bound))
        return targets

    @model_validator(mode="after")
    def _resources_or_revision(self) -> ChangeEvent:
        if self.revision is not None and self.resources:
            raise ValueError("give either resources or a revision, not both")
        if self.revision is None and not self.resources:
            raise ValueError("give resources (the desired state) or a revision to roll out")
        return self

    @property
    def change_id(self) -> str:
        return str(self.event_id)


def _over(what: str, count: int, name: str, bound: int) -> str:
    return f"{count} {what} exceed the limit {limits.limit(name).env}={bound}"


def percent_of(amount: int | str, whole: int) -> float:
    """An Amount as a number of targets out of `whole` (unrounded)."""
    if isinstance(amount, int):
        return float(amount)
    match = _PERCENT.match(amount)
    if match is None:
        raise ValueError(f"not a count or a percentage: {amount!r}")
    return whole * float(match.group(1)) / 100.0


class RolloutState(StrEnum):
    """Where a rollout is. Lowercase words in Redis, JSON and the CLI."""

    PLANNED = "planned"
    RUNNING = "running"
    PAUSED = "paused"
    HALTED = "halted"
    COMPLETED = "completed"
    ABORTED = "aborted"
    REJECTED = "rejected"

    @property
    def final(self) -> bool:
        """True for states a rollout never leaves."""
        return self in (RolloutState.COMPLETED, RolloutState.ABORTED, RolloutState.REJECTED)
