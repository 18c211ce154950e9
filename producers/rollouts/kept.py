"""What a rollout book keeps of an event: never sensitive content in clear, except what a
rollout still has to deliver (and only until it can publish no more).

The redaction rules themselves are `contracts.redaction`'s; these say which copy of an
event or a refused body is stored where.
"""

from __future__ import annotations

import json

from contracts import limits
from contracts.events import ChangeEvent
from contracts.redaction import has_sensitive, redact, redact_text
from contracts.state import DesiredState


def redacted_json(event: ChangeEvent) -> str:
    """The event as the book keeps it: no sensitive path's content, a digest instead."""
    document = event.model_dump(mode="json")
    shown = redact(document)
    return event.model_dump_json() if shown is document else json.dumps(shown)


def delivered_resources(event: ChangeEvent, revision: int | None) -> str | None:
    """The inline resources a rollout without a revision delivers wave by wave.

    Kept only when the redacted event cannot serve (a sensitive path) and no revision holds
    them (a revision's rendered states are what later waves deliver then).
    """
    if revision is not None or not has_sensitive(event.model_dump(mode="json")):
        return None
    return DesiredState(resources=event.resources).model_dump_json()


def excerpt(body: bytes) -> str:
    """A bounded start of a refused body, in which no sensitive content shows."""
    return redact_text(body)[: limits.EXCERPT_BYTES]
