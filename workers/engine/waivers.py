"""Waivers as the engine sees them: which resources to leave alone on this target, now.

A waiver applies when its selector picks the target and it has not expired. An expired
waiver no longer protects its resource: enforcement resumes, and the resource's summary
says the waiver expired, so nobody mistakes the change for an accident.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from contracts import Target
from contracts.waivers import Waiver


class Waivers:
    """The waivers of one convergence, split into active and expired, by resource identity."""

    def __init__(self, target: Target, waivers: Iterable[Waiver]) -> None:
        now = datetime.now(UTC)  # as contracts.changes.utcnow, without its models
        self._active: dict[str, Waiver] = {}
        self._expired: dict[str, Waiver] = {}
        for waiver in waivers:
            if not waiver.applies_to(target):
                continue
            bucket = self._expired if waiver.expired(now) else self._active
            bucket.setdefault(waiver.resource, waiver)

    def active(self, resource: str) -> Waiver | None:
        return self._active.get(resource)

    def expired(self, resource: str) -> Waiver | None:
        return None if resource in self._active else self._expired.get(resource)


def waived(waiver: Waiver) -> str:
    """The summary of a resource left alone."""
    return f"waived until {waiver.expires_at.isoformat()} (owner {waiver.owner}): {waiver.reason}"


def expired(waiver: Waiver) -> str:
    """The note on a resource whose waiver has run out."""
    return f"waiver expired {waiver.expires_at.isoformat()} (owner {waiver.owner})"
