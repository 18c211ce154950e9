"""Check-ins: what a pull agent asks the control plane, and what it is told.

A check-in carries no secret: it is signed with the target's enrollment key (a fresh nonce,
its time and the body under an Ed25519 signature: `contracts.proofs`), so reading one off
the broker gives nothing to replay.

An agent publishes a CheckinRequest to the exchange `provision.checkins` with `reply_to`
set to RabbitMQ's direct reply-to, so the answer reaches that one channel and no other
agent can read it. The controller admits check-ins at a configured rate: beyond it, the
agent is told to come back after a jittered delay instead of queueing without bound.
"""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from contracts.proofs import KEY_PATTERN, NONCE_PATTERN, PROOF_PATTERN, public_of
from contracts.targets import Target, Word

#: Why a credentials file from before check-in proofs is refused (it names the fix).
BARE_TOKEN = (
    "this credentials file holds a bare bearer token, which check-ins no longer carry "
    "(an agent now signs each check-in with its enrollment key); re-enroll the target on "
    "the control plane: `provision enroll TARGET --out DIR`, and copy the new credentials.json"
)


class CheckinRequest(BaseModel):
    """An agent asking for its own target's desired state."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    target: Word = Field(description="The target the agent runs on.")
    nonce: str = Field(
        pattern=NONCE_PATTERN,
        description="Fresh random bytes (base64url): the desk admits each nonce once.",
    )
    sent_at: AwareDatetime = Field(
        description="When the agent signed it: refused outside PROVISION_LIMIT_CHECKIN_WINDOW_S "
        "of the desk's clock."
    )
    proof: str = Field(
        pattern=PROOF_PATTERN,
        description="Ed25519 signature (base64url) of `contracts.proofs.checkin_message`, made "
        "with the target's enrollment key.",
    )
    applied_revision: int | None = Field(default=None, description="Last revision applied.")
    report_only: bool = False
    interval_s: float | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
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
    state_signature: str | None = Field(
        default=None,
        max_length=200,
        description="The controller's signature of `state`, made when it was rendered "
        "(contracts.controller_signatures, provision-state-v1). The agent converges nothing "
        "whose signature does not verify with its controller_public_key.",
    )
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
    """What `provision enroll` writes for one target (credentials.json, mode 0600): all its
    agent needs to start.

    `private_key` signs the agent's check-ins and never leaves the target; the control
    plane keeps only `public_key`, so neither its database nor the broker holds anything
    that lets someone act as the agent. `broker_url` should name a least-privilege RabbitMQ
    user (see `broker_config.permissions`, role `agent`); `amqps://` is honoured.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    target: Word
    private_key: str = Field(
        pattern=KEY_PATTERN,
        description="Ed25519 private key (32-byte seed, base64url): signs check-ins; secret.",
    )
    public_key: str = Field(
        pattern=KEY_PATTERN,
        description="Its public key (32 bytes, base64url), the one the control plane keeps.",
    )
    broker_url: str = Field(pattern=r"^amqps?://", description="RabbitMQ URL, vhost included.")
    enrolled_at: AwareDatetime
    controller_public_key: str | None = Field(
        default=None,
        max_length=4096,
        description="The controller's Ed25519 public key (PEM): the agent converges only "
        "states it signed. A file without it is refused at start: re-enroll.",
    )
    address: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z0-9+.-]*://",
        description="The target's address when it was enrolled. A `local://` address is the "
        "root the agent converges (unless --root); a check-in reply naming another local "
        "root is refused, so the control plane cannot point an agent elsewhere.",
    )

    @model_validator(mode="before")
    @classmethod
    def _not_a_bare_token(cls, data: Any) -> Any:
        """A file from before check-in proofs says what to do, not only what is missing."""
        if isinstance(data, dict) and "token" in data and "private_key" not in data:
            raise ValueError(BARE_TOKEN)
        return data

    @model_validator(mode="after")
    def _keys_agree(self) -> Credentials:
        """An edited or mixed-up file fails here, naming the fix, not as "refused" later."""
        try:
            derived = public_of(self.private_key)
        except ValueError as exc:
            raise ValueError(f"private_key is not an Ed25519 key ({exc}); re-enroll") from exc
        if derived != self.public_key:
            raise ValueError("public_key is not the public half of private_key; re-enroll")
        return self
