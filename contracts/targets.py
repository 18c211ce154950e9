"""Targets (the machines a change reaches) and the selector that picks them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

#: Ids, regions and environments become routing-key words, so they may not hold dots.
Word = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$", strict=True)]


class Target(BaseModel):
    """One machine (or root directory) that a change can reach."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Word = Field(description="Unique target id; the last word of the routing key.")
    region: Word = Field(description="Region whose workers converge this target.")
    environment: Word = Field(description="Environment, e.g. dev, staging, prod.")
    labels: dict[str, str] = Field(default_factory=dict)
    roles: tuple[str, ...] = Field(
        default=(), description="Roles whose resources the source of truth gives this target."
    )
    delivery: Literal["push", "pull"] = Field(
        default="push",
        description="push: workers converge it on request; pull: its agent checks in.",
    )
    address: str = Field(
        description="How a worker reaches the target, e.g. local:///srv/root.",
        pattern=r"^[a-z][a-z0-9+.-]*://",
    )

    @property
    def routing_key(self) -> str:
        """`<region>.<environment>.<target>` on the topic exchange `provision.changes`."""
        return f"{self.region}.{self.environment}.{self.id}"


class Selector(BaseModel):
    """Which targets a change is for. Every given field must match (AND); empty selects all."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    environment: str | None = None
    region: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    targets: tuple[str, ...] | None = Field(
        default=None, description="Explicit target ids; combined with the rest by AND."
    )

    def matches(self, target: Target) -> bool:
        """True when the target satisfies every given condition."""
        if self.environment is not None and target.environment != self.environment:
            return False
        if self.region is not None and target.region != self.region:
            return False
        if self.targets is not None and target.id not in self.targets:
            return False
        return all(target.labels.get(key) == value for key, value in self.labels.items())

    def describe(self) -> str:
        """A short human form, for error messages."""
        parts = [
            f"{name}={value}"
            for name, value in (("environment", self.environment), ("region", self.region))
            if value is not None
        ]
        parts += [f"labels.{key}={value}" for key, value in sorted(self.labels.items())]
        if self.targets is not None:
            parts.append("targets=" + ",".join(self.targets))
        return " ".join(parts) or "(everything)"
