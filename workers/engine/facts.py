"""Facts: what templates may know about a target (its identity, labels, host)."""

from __future__ import annotations

import os
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
    return {**target, "target": target, "hostname": hostname()}


def hostname() -> str:
    """This machine's name, as socket.gethostname() gives it (both ask uname), without
    importing the socket module into every start of `provision converge`."""
    return os.uname().nodename
