"""The inventory: every target the control plane knows, as `provision inventory load` reads it."""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.targets import Target


class Inventory(BaseModel):
    """`targets:`, a list of targets with unique ids."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    targets: tuple[Target, ...] = Field(default=())

    @model_validator(mode="after")
    def _ids_are_unique(self) -> Inventory:
        counts = Counter(t.id for t in self.targets)
        duplicates = sorted(i for i, n in counts.items() if n > 1)
        if duplicates:
            raise ValueError(f"duplicate target ids: {', '.join(duplicates)}")
        return self
