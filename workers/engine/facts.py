"""Facts: what templates may know about a target (its identity, labels, host)."""

from __future__ import annotations

import socket
from typing import Any

from contracts import Target


def gather(spec: Target) -> dict[str, Any]:
    """The template variables for one target. Cheap: nothing is run on the target.

    Returns:
        `id`, `region`, `environment`, `labels` and `address` at the top level and under
        `target`, plus `hostname` (of the machine that converges).
    """
    target = {
        "id": spec.id,
        "region": spec.region,
        "environment": spec.environment,
        "labels": dict(spec.labels),
        "address": spec.address,
    }
    return {**target, "target": target, "hostname": socket.gethostname()}
