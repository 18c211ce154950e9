"""Check-ins: what a pull agent asks the control plane, and what it is told.

An agent publishes a CheckinRequest to the exchange `provision.checkins` with `reply_to`
set to RabbitMQ's direct reply-to, so the answer reaches that one channel and no other
agent can read it. The controller admits check-ins at a configured rate: beyond it, the
agent is told to come back after a jittered delay instead of queueing without bound.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from contracts.targets import Word


class CheckinRequest(BaseModel):
    """An agent asking for its own target's desired state."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    target: Word = Field(description="The target the agent runs on.")
    token: str = Field(min_length=16, description="The target's secret from `provision enroll`.")
    applied_revision: int | None = Field(default=None, description="Last revision applied.")
    report_only: bool = False


class CheckinReply(BaseModel):
    """Admitted with the assigned revision and its rendered state, told to wait, or refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    admitted: bool
    refused: str | None = Field(default=None, description="Why the check-in was refused.")
    retry_after_s: float | None = Field(default=None, description="Come back after this.")
    revision: int | None = Field(default=None, description="The target's assigned revision.")
    change_id: str | None = Field(default=None, description="The rollout that assigned it.")
    state: str | None = Field(default=None, description="RenderedState canonical JSON.")
