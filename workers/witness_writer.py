"""Writing the witness after a `provision converge` run, for `workers.shortcut` to read.

Only a state of plain files is witnessed: regular files with literal content and, if any,
numeric owners; no template (facts), no owner or group by name (the user database), no
readiness check and no waiver (time). Their outcome is then a function of the state
file, the code, the settings and the files alone. The witness is taken before and after
the run (a run that changed files: after it and after a dry run that must find nothing
to do), under the target's lock; if the files moved in between, nothing is kept.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from contracts import DesiredState, OutcomeStatus
from workers import witness, witness_cache
from workers.shortcut import Request, remember, state_digest


@dataclass(frozen=True)
class WitnessWriter:
    """The witness of one run in the making: what to look at, and with which key."""

    asked: Request
    state: str
    paths: list[str]
    key: bytes

    @classmethod
    def start(
        cls, asked: Request, state: str | None, desired: DesiredState
    ) -> WitnessWriter | None:
        """A writer for this run, or None when its state or the cache cannot be witnessed."""
        paths = witnessed_paths(desired)
        if state is None or paths is None:
            return None
        cache = witness_cache.opened(create=True)
        if cache is None:
            return None
        try:
            key = witness_cache.key(cache, create=True)
        finally:
            os.close(cache)
        return None if key is None else cls(asked, state, paths, key)

    def observe(self) -> list[witness.Seen] | None:
        return witness.observe(self.asked.root, self.paths, self.key)

    def finish(
        self,
        before: list[witness.Seen] | None,
        document: dict[str, Any],
        check: Callable[[], dict[str, Any]],
    ) -> None:
        """Keep the witness when this run's `document` (or that of the dry run `check`, after
        a change) says the root is converged and the files stayed as seen throughout."""
        seen = self.observe()
        if seen is None:
            return
        if document["status"] == OutcomeStatus.CHANGED and not self.asked.dry_run:
            before, document = seen, check()
            seen = self.observe()
        if document["status"] != OutcomeStatus.CONVERGED or seen is None or seen != before:
            return
        if state_digest(self.asked.state_file) != self.state:
            return  # the state file was replaced while the run read it
        remember(self.asked, self.state, self.paths, seen, document)


def witnessed_paths(desired: DesiredState) -> list[str] | None:
    """The paths to witness, or None when the state is not of plain files only."""
    if desired.checks or desired.waivers or not desired.resources:
        return None
    paths = []
    for spec in desired.resources:
        if spec.kind != "file" or spec.template is not None or spec.content is None:
            return None
        if any(not (value is None or str(value).isdigit()) for value in (spec.owner, spec.group)):
            return None
        if witness.components(spec.path) is None:
            return None
        paths.append(spec.path)
    return paths
