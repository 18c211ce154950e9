"""The engine's spans, opened only in a process that traces.

A worker and an agent call `contracts.telemetry.setup_tracing` at start; `provision
converge` does not, so its spans would go nowhere, yet importing OpenTelemetry and opening a
span per resource cost a no-change run on 1,000 files about a tenth of its time. So the
engine asks first, without importing anything: if `contracts.telemetry` is not loaded,
`setup_tracing` cannot have run in this process.
"""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager
from typing import Any

#: `contracts.telemetry.ATTR_STATUS`, named here so that an untraced run need not import it.
STATUS = "provision.status"


class _Untraced:
    """Stands in for a span where nothing traces: takes attributes, records nothing."""

    def set_attribute(self, key: str, value: Any) -> None:
        """Nothing to record."""

    def __enter__(self) -> _Untraced:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


UNTRACED = _Untraced()


def span(name: str, attributes: dict[str, Any] | None = None) -> AbstractContextManager[Any]:
    """The current span `name` (ended on exit, an escaping exception recorded on it), or
    UNTRACED when this process does not trace."""
    telemetry = sys.modules.get("contracts.telemetry")
    if telemetry is None or not telemetry.tracing():
        return UNTRACED
    started: AbstractContextManager[Any] = telemetry.tracer().start_as_current_span(
        name, attributes=attributes
    )
    return started
