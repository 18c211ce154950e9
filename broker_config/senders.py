"""Who may speak for a target: the rule every outcome is checked against before it counts.

RabbitMQ checks the AMQP `user_id` property of every message against the user of the
connection that published it and refuses a mismatch (its "validated user-id"), so a
consumer can trust `user_id` to name the sender. Every process of ours sets it
(`broker_config.connections.speaks_as`). The aggregator and the controller accept an
outcome of target T only from:

* the worker of T's region, `<prefix>-worker-<region>` (the region from our own records,
  never from the message), or
* T's own agent, `<prefix>-agent-<T>`, or
* a **trusted sender** (`--trusted-sender USER`, `PROVISION_TRUSTED_SENDERS`): a user that
  may speak for EVERY target. It exists for single-user development and the tests, where
  every process runs as `guest`; a deployment with a user per role needs none.

Anything else (no `user_id`, a worker of another region, another target's agent, an
emitter...) is refused with the reason. The prefix is `PROVISION_ACCESS_PREFIX` (default
`provision`), the same as the users' (`broker_config.permissions`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from broker_config.permissions import DEFAULT_PREFIX, role_of

#: Comma-separated users that may speak for every target. Default: none.
TRUSTED_SENDERS_ENV = "PROVISION_TRUSTED_SENDERS"
#: The users' name prefix (as `provision access` and `provision enroll` use it).
PREFIX_ENV = "PROVISION_ACCESS_PREFIX"
#: How much of a sender's name a reason shows (AMQP allows 255 bytes).
SHOWN = 100


def _shown(user: str) -> str:
    return repr(user[:SHOWN] + ("…" if len(user) > SHOWN else ""))


def trusted_from_env() -> frozenset[str]:
    """PROVISION_TRUSTED_SENDERS as a set of user names (blanks dropped)."""
    raw = os.environ.get(TRUSTED_SENDERS_ENV, "")
    return frozenset(name.strip() for name in raw.split(",") if name.strip())


@dataclass(frozen=True)
class Senders:
    """The rule, with its two settings: the users' prefix and the trusted senders."""

    prefix: str = DEFAULT_PREFIX
    trusted: frozenset[str] = frozenset()

    @classmethod
    def from_env(cls, trusted: Iterable[str] = ()) -> Senders:
        """PROVISION_ACCESS_PREFIX and PROVISION_TRUSTED_SENDERS, plus `trusted` (the flags)."""
        prefix = os.environ.get(PREFIX_ENV) or DEFAULT_PREFIX
        return cls(prefix, trusted_from_env() | frozenset(t for t in trusted if t))

    def worker(self, region: str) -> str:
        return f"{self.prefix}-worker-{region}"

    def agent(self, target: str) -> str:
        return f"{self.prefix}-agent-{target}"

    def needs_region(self, user_id: object) -> bool:
        """True when only the target's region can decide (the sender is a worker user)."""
        return (
            isinstance(user_id, str)
            and user_id not in self.trusted
            and user_id.startswith(f"{self.prefix}-worker-")
        )

    def refusal(self, user_id: object, target: str, region: str | None) -> str | None:
        """Why `user_id` may not speak for `target` (in `region`, None when unknown), or None.

        Pure: the caller looks the region up in its records and records the refusal.
        """
        if not isinstance(user_id, str) or not user_id:
            return "no user_id: the sender is unknown (every process of ours sets it)"
        if user_id in self.trusted or user_id == self.agent(target):
            return None
        worker_prefix = f"{self.prefix}-worker-"
        if user_id.startswith(worker_prefix):
            own = user_id[len(worker_prefix) :]
            if region is None:
                return (
                    f"{_shown(user_id)} is a worker, and target {_shown(target)} "
                    "has no known region"
                )
            if own == region:
                return None
            return (
                f"{_shown(user_id)} is the worker of region {own[:SHOWN]!r}; "
                f"target {_shown(target)} is in region {_shown(region)}"
            )
        agent_prefix = f"{self.prefix}-agent-"
        if user_id.startswith(agent_prefix):
            other = user_id[len(agent_prefix) :]
            return (
                f"{_shown(user_id)} is the agent of target {_shown(other)}, not of {_shown(target)}"
            )
        role = role_of(user_id, (), self.prefix)
        who = f"the {role} user {_shown(user_id)}" if role else f"user {_shown(user_id)}"
        only = self.worker(region or "<region>")
        return (
            f"{who} may not speak for target {_shown(target)}: only {_shown(only)} or "
            f"{_shown(self.agent(target))} may (or a trusted sender)"
        )
