"""Waivers: managed deviations, with an owner and an expiry, that the engine respects.

A waiver tells the engine to leave one resource alone on the targets it selects, until it
expires; after that, enforcement resumes and the report says the waiver expired.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Annotated

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from contracts.fields import check_path
from contracts.targets import Selector, Target

#: Owner and reason must say something: an empty string is as good as missing.
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class Waiver(BaseModel):
    """A managed deviation: the engine leaves one resource alone on the selected targets.

    Every field is required: a waiver nobody owns, or that never ends, is drift with a
    permission slip. Expired waivers stay valid data, so the engine can report "expired".
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    selector: Selector = Field(description="Which targets the waiver covers; {} for all.")
    resource: str = Field(
        description="Identity of the covered resource: its path (a command: name or argv)."
    )
    owner: Text = Field(description="Who answers for the deviation.")
    reason: Text = Field(description="Why the deviation is allowed.")
    expires_at: AwareDatetime = Field(description="When the waiver stops; with a timezone.")

    @field_validator("resource")
    @classmethod
    def _resource_text(cls, value: str) -> str:
        if value.startswith("/"):
            return check_path(value)
        if not value.strip():
            raise ValueError("resource must name a path (or a command's name)")
        return value

    @field_validator("expires_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        """One spelling per instant, so the same waiver always hashes the same."""
        return value.astimezone(UTC)

    @property
    def id(self) -> str:
        """A short stable id from selector and resource, for `provision waiver remove`."""
        key = json.dumps(
            [self.selector.model_dump(mode="json"), self.resource],
            sort_keys=True,
            separators=(",", ":"),
        )
        return "w-" + hashlib.sha256(key.encode()).hexdigest()[:10]

    def expired(self, now: datetime) -> bool:
        """True once `now` has reached `expires_at`."""
        return now >= self.expires_at

    def applies_to(self, target: Target) -> bool:
        """True when the selector picks the target."""
        return self.selector.matches(target)
