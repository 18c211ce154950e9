"""What one benchmark hands back: its figures, notes on what is missing, and raw detail."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Section:
    """The result of one benchmark.

    Args:
        values: The benchmark's keys of results.json (None where not measured).
        notes: Why a value is None, or what to know when reading it; by key.
        detail: Per-repetition samples and sizes, so a median can be checked.
    """

    values: dict[str, float | None] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)

    def merge(self, other: Section) -> None:
        self.values.update(other.values)
        self.notes.update(other.notes)
        self.detail.update(other.detail)
