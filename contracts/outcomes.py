"""Outcome events: what happened when one change request met one target."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from pydantic import (
    AliasChoices,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from contracts import limits

#: Validation context key for an outcome read off the wire: its times are judged against ours.
ARRIVING = "arriving"


class OutcomeStatus(StrEnum):
    """The status of one (change, target). Lowercase words on the wire and in Redis."""

    #: Nothing has been heard back yet.
    PENDING = "pending"
    #: Something was applied and the target is now as desired.
    CHANGED = "changed"
    #: The target already was as desired; nothing was applied.
    CONVERGED = "converged"
    #: Dry run: something would change.
    DRIFTED = "drifted"
    #: Applying failed; see `error`.
    FAILED = "failed"
    #: The request itself was bad (contract, expiry); it was dead-lettered, never applied.
    REJECTED = "rejected"
    #: A readiness check failed, so nothing was applied.
    NOT_READY = "not_ready"
    #: The target had already applied a newer request (higher sequence); nothing was applied.
    SUPERSEDED = "superseded"

    @property
    def ok(self) -> bool:
        """True for the statuses that leave a target as desired."""
        return self in (OutcomeStatus.CHANGED, OutcomeStatus.CONVERGED)


class ResourceStatus(StrEnum):
    """The status of one resource within an outcome."""

    CONVERGED = "converged"
    CHANGED = "changed"
    FAILED = "failed"
    SKIPPED = "skipped"
    EXCEPTED = "excepted"


class ErrorInfo(BaseModel):
    """Why something failed, and whether retrying later may help."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str = Field(description="Error class name, e.g. ConfinementError.")
    message: str
    transient: bool = Field(description="True when a later retry may succeed.")


class ResourceOutcome(BaseModel):
    """One resource's result: its status and a one-line summary of what changed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str
    path: str
    status: ResourceStatus
    summary: str = ""
    diff: str | None = Field(default=None, description="Unified diff (dry run; never sensitive).")


#: Earlier tries an outcome lists at most (the newest kept): the worker's budgets of attempts
#: and waits fit well within it.
RETRIES_KEPT = 64


class Retry(BaseModel):
    """One earlier try of the same request that did not finish it: where and when it ran,
    why it was tried again, and how long the worker chose to wait first."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["retry", "wait"] = Field(
        default="retry",
        description="`retry`: the engine ran and failed transiently (counts as an attempt); "
        "`wait`: the target's lock was busy or Redis was away (not an attempt).",
    )
    attempt: int = Field(ge=1, description="The engine attempt this try was.")
    worker: str = Field(max_length=200, description="Which worker ran the try.")
    received_at: AwareDatetime | None = Field(
        default=None, description="When the worker began the try."
    )
    queue_wait_s: float | None = Field(
        default=None,
        ge=0,
        allow_inf_nan=False,
        description="How long its message waited in the queue first.",
    )
    at: AwareDatetime = Field(description="When the try ended and the retry was decided.")
    reason: str = Field(max_length=1000, description="Why: the error type and message.")
    backoff_s: float = Field(
        ge=0, allow_inf_nan=False, description="The delay chosen before the next try."
    )


class OutcomeEvent(BaseModel):
    """Published once per attempt that finishes a (change request, target)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    outcome_id: str = Field(
        validation_alias=AliasChoices("outcome_id", "event_id"),
        description="The outcome's own id: unique per event; recording it twice changes "
        "nothing. Was `event_id`, which is still accepted on input.",
    )
    change_id: str
    target: str
    status: OutcomeStatus
    resources: tuple[ResourceOutcome, ...] = Field(
        default=(), description="Every resource of the desired state, with its status."
    )
    error: ErrorInfo | None = None
    attempts: int = Field(default=1, ge=1)
    worker: str = Field(description="Which worker (or agent) produced the outcome.")
    started_at: AwareDatetime
    finished_at: AwareDatetime
    trace_id: str | None = Field(default=None, description="W3C trace id of the request.")
    dry_run: bool = False
    delivery: Literal["push", "pull"] = Field(
        default="push", description="How the desired state reached the target."
    )
    revision: int | None = Field(
        default=None, description="The source-of-truth revision applied, when there is one."
    )
    drift: bool = Field(
        default=False,
        description="The target was already at this revision, yet something had changed "
        "behind the system's back (listed in `resources`).",
    )
    sequence: int | None = Field(
        default=None,
        ge=0,
        description="The per-target sequence of the request (push) or check-in reply (pull) "
        "this outcome answers. The system of record orders a target's outcomes by it, then "
        "by the time it received them; None ranks below any sequence.",
    )
    interval_s: float | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        description="Pull: the agent's check-in interval; compliance calls the target "
        "unknown after twice this long without a check-in.",
    )

    queue_wait_s: float | None = Field(
        default=None,
        ge=0,
        allow_inf_nan=False,
        description="How long the message this outcome answers waited in its queue before "
        "the worker began it (None: not known, e.g. a replayed dead letter or a pull).",
    )
    redelivered: bool = Field(
        default=False,
        description="The broker delivered that message before (a worker died or lost it).",
    )
    retries: tuple[Retry, ...] = Field(
        default=(),
        max_length=RETRIES_KEPT,
        description="The earlier tries of the same request, oldest first (the newest "
        f"{RETRIES_KEPT} at most).",
    )
    dead_letter: str | None = Field(
        default=None,
        max_length=2000,
        description="Why the request was dead-lettered to provision.dead, when it was.",
    )

    @field_validator("started_at", "finished_at")
    @classmethod
    def _not_in_the_future(cls, value: datetime, info: ValidationInfo) -> datetime:
        """A sender's clock may be off a little, never years: an outcome arriving from the
        wire (validated with the context `ARRIVING`) with a time far ahead is refused, so a
        forged future outcome cannot sort after every real one. Records read back are not
        judged again: time moves on, what was stored stays readable."""
        if not (info.context or {}).get(ARRIVING):
            return value
        ahead = (value - datetime.now(UTC)).total_seconds()
        if ahead > limits.CLOCK_SKEW_S:
            bound = f"{limits.limit('CLOCK_SKEW_S').env}={limits.CLOCK_SKEW_S:g}"
            raise ValueError(f"{ahead:.0f}s in the future; the limit is {bound}")
        return value

    @property
    def changes(self) -> tuple[ResourceOutcome, ...]:
        """The resources that were (or, in a dry run, would be) changed."""
        return tuple(r for r in self.resources if r.status == ResourceStatus.CHANGED)
