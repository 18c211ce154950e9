"""Check-ins: what a pull agent asks the control plane, and what it is told.

An agent publishes a CheckinRequest to the exchange `provision.checkins` with `reply_to`
set to RabbitMQ's direct reply-to, so the answer reaches that one channel and no other
agent can read it. The controller admits check-ins at a configured rate: beyond it, the
agent is told to come back after a jittered delay instead of queueing without bound.
"""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.targets import Target, Word


class CheckinRequest(BaseModel):
    """An agent asking for its own target's desired state."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    target: Word = Field(description="The target the agent runs on.")
    token: str = Field(min_length=16, description="The target's secret from `provision enroll`.")
    applied_revision: int | None = Field(default=None, description="Last revision applied.")
    report_only: bool = False
    interval_s: float | None = Field(
        default=None,
        gt=0,
        description="The agent's check-in interval: compliance calls a target unknown "
        "after twice this long without a check-in.",
    )


class CheckinReply(BaseModel):
    """Admitted with the assigned revision and its rendered state, told to wait, or refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    admitted: bool
    refused: str | None = Field(default=None, description="Why the check-in was refused.")
    retry_after_s: float | None = Field(default=None, description="Come back after this.")
    revision: int | None = Field(default=None, description="The target's assigned revision.")
    change_id: str | None = Field(default=None, description="The rollout that assigned it.")
    state: str | None = Field(default=None, description="RenderedState canonical JSON.")
    sequence: int | None = Field(
        default=None,
        ge=0,
        description="The target's request sequence for this state; the agent's outcome "
        "carries it back, so push and pull outcomes are ordered alike.",
    )
    target: Target | None = Field(
        default=None,
        description="The target as the control plane knows it (region, environment, address), "
        "so the agent can route its outcome and find its root without the inventory.",
    )


class Credentials(BaseModel):
    """What `provision enroll` writes for one target: all its agent needs to start.

    The control plane keeps only the token's sha256, so a leaked Redis dump cannot be
    replayed as an agent. `broker_url` should name a least-privilege RabbitMQ user (see
    `broker_config.permissions`, role `agent`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    target: Word
    token: str = Field(min_length=16)
    broker_url: str = Field(pattern=r"^amqps?://", description="RabbitMQ URL, vhost included.")
    enrolled_at: AwareDatetime
    address: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z0-9+.-]*://",
        description="The target's address when it was enrolled. A `local://` address is the "
        "root the agent converges (unless --root); a check-in reply naming another local "
        "root is refused, so the control plane cannot point an agent elsewhere.",
    )
