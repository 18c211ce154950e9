"""Making any string storable: PostgreSQL text holds neither NUL nor lone surrogates.

Values reach the store from hostile senders (an agent's outcome, a refused check-in). One
such value must not fail the batch it came in, so it is stored in a harmless form instead.
"""

from __future__ import annotations

from typing import overload


@overload
def clean(value: str, limit: int | None = None) -> str: ...
@overload
def clean(value: None, limit: int | None = None) -> None: ...
def clean(value: str | None, limit: int | None = None) -> str | None:
    """`value` with NUL and unencodable characters replaced, cut to `limit` characters."""
    if value is None:
        return None
    text = value.replace("\x00", "\ufffd")
    text = text.encode("utf-8", "replace").decode("utf-8")
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 1)] + "…"
    return text
