"""The file `provision apply` reads: a fleet, a selector, a desired state, a rollout policy."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.documents import load_document, read_document
from contracts.events import RolloutPolicy
from contracts.resources import ResourceSpec
from contracts.targets import Selector, Target

__all__ = ["ChangeFile", "load_document", "read_document"]


class ChangeFile(BaseModel):
    """A fleet (or the inventory), a selector, a desired state and how to roll it out."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    targets: tuple[Target, ...] | None = Field(
        default=None, description="The fleet the selector picks from; absent: the inventory."
    )
    selector: Selector = Field(default_factory=Selector)
    resources: tuple[ResourceSpec, ...] = Field(
        default=(), description="The desired state of each target (or give `revision`)."
    )
    revision: int | None = Field(
        default=None, ge=1, description="Roll out this source-of-truth revision instead."
    )
    rollout: RolloutPolicy = Field(default_factory=RolloutPolicy)
    deadline: AwareDatetime | None = None
