"""Desired state: the ordered resources one target should have."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.resources import ResourceSpec


class DesiredState(BaseModel):
    """What one target should look like. Resources apply in order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    resources: tuple[ResourceSpec, ...] = Field(default=())

    @model_validator(mode="after")
    def _requires_point_backwards(self) -> DesiredState:
        seen: set[str] = set()
        for index, spec in enumerate(self.resources):
            for needed in spec.requires:
                if needed not in seen:
                    raise ValueError(
                        f"resources.{index} ({spec.path}): requires {needed!r}, "
                        "which is not an earlier resource's name or path"
                    )
            seen.update({spec.path, *([spec.name] if spec.name else [])})
        return self
