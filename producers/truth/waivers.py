"""Editing waivers: add or remove one, and write `waivers.yaml` back to the directory.

`provision waiver add|remove` always stores a new revision built from a base:

- with `--dir DIR`, the base is DIR itself, which must equal the latest revision (so no
  unpublished edit is swept in); the new `DIR/waivers.yaml` is written first, then the
  revision is published. Commit the file: the directory under version control stays the
  truth. Rewriting drops comments in `waivers.yaml` (a header says so).
- without `--dir`, the base is the latest revision. The directory is not touched, so the
  next `provision state publish DIR` would undo the change unless `waivers.yaml` is
  edited to match; the command says so.

Waivers are named by `Waiver.id`, a short hash of selector and resource: adding a waiver
with the same selector and resource is refused unless `replace` (e.g. a new expiry).
A waiver that has already expired cannot be added.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from contracts.truth import SourceBundle, Waiver
from producers.truth.checks import WAIVERS
from producers.truth.errors import WaiverError

HEADER = (
    "# Waivers: managed deviations, each with a selector, a resource, an owner, a reason\n"
    "# and an expiry. Written by `provision waiver add|remove --dir`; comments are not kept.\n"
)


def add(
    bundle: SourceBundle, waiver: Waiver, *, now: datetime, replace: bool = False
) -> SourceBundle:
    """The bundle with `waiver` appended (or replacing the one with its id)."""
    if waiver.expired(now):
        raise WaiverError(
            f"--expires-at {waiver.expires_at.isoformat()} has already passed; "
            "a waiver must end in the future"
        )
    existing = [w for w in bundle.waivers if w.id == waiver.id]
    if existing and not replace:
        raise WaiverError(
            f"waiver {waiver.id} already covers {waiver.resource!r} for "
            f"{waiver.selector.describe()}; pass --replace to change it"
        )
    if existing:
        waivers = tuple(waiver if w.id == waiver.id else w for w in bundle.waivers)
    else:
        waivers = (*bundle.waivers, waiver)
    return bundle.model_copy(update={"waivers": waivers})


def remove(bundle: SourceBundle, waiver_id: str) -> tuple[SourceBundle, Waiver]:
    """The bundle without the waiver `waiver_id`, and that waiver. Raises WaiverError."""
    found = [w for w in bundle.waivers if w.id == waiver_id]
    if not found:
        known = ", ".join(w.id for w in bundle.waivers) or "none"
        raise WaiverError(f"no waiver {waiver_id!r} (waivers: {known})")
    remaining = tuple(w for w in bundle.waivers if w.id != waiver_id)
    return bundle.model_copy(update={"waivers": remaining}), found[0]


def document(waivers: tuple[Waiver, ...]) -> dict[str, Any]:
    """The `waivers.yaml` mapping, without default selector fields."""
    return {"waivers": [w.model_dump(mode="json", exclude_defaults=True) for w in waivers]}


def write(directory: Path, waivers: tuple[Waiver, ...]) -> Path:
    """Replace `directory/waivers.yaml` atomically (a reader sees the old or the new file)."""
    path = directory / WAIVERS
    text = HEADER + yaml.safe_dump(document(waivers), sort_keys=False, allow_unicode=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".waivers.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
