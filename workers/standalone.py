"""Local mode: `provision converge ROOT STATE_FILE` runs the engine on a directory, no broker.

Like a worker or an agent, it converges under the target's own lock
(`workers.engine.target_lock`), so it never runs at the same time as a push or a pull on
the same root.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from contracts import ContractError, DesiredState, ExitCode, ResourceStatus, Target
from contracts.documents import read_mapping
from workers.engine.convergence import Convergence, converge
from workers.engine.facts import hostname
from workers.engine.target_lock import held
from workers.shortcut import Request, render, state_digest
from workers.witness_writer import WitnessWriter

_NOT_A_WORD = re.compile(r"[^A-Za-z0-9_-]+")
#: How long `provision converge` waits for a worker or an agent to finish with the root.
LOCK_WAIT_S = 30.0


def run(
    root: Path,
    state_file: Path,
    *,
    dry_run: bool,
    as_json: bool,
    lock_wait_s: float = LOCK_WAIT_S,
    witness: bool = True,
) -> int:
    """Converge ROOT to the resources (and checks) of STATE_FILE and print the outcome.

    Args:
        root: The directory that plays the role of `/` for every spec path.
        state_file: YAML or JSON with `resources:` (and optionally `checks:`).
        dry_run: Show what would change (with diffs); change nothing.
        as_json: Print one JSON object (counts and resources) instead of lines.
        lock_wait_s: How long to wait for another run holding the target's lock.
        witness: Keep the witness of a converged run of plain files, for the next run to
            answer from (`workers.shortcut`) when nothing changed.

    Returns:
        The exit code: 0 nothing failed, 1 something failed or was not ready, 2 bad input.

    Raises:
        ContractError: the state file is unreadable or breaks the contract (exit code 2).
        TargetLocked: a worker or an agent still held the root's lock after `lock_wait_s`
            (exit code 1); nothing was changed.
    """
    state = state_digest(str(state_file))
    desired = load_state(state_file)
    target = local_target(root)
    asked = Request(str(root), str(state_file), dry_run, as_json)
    record = WitnessWriter.start(asked, state, desired) if witness else None
    # A dry run changes nothing, so it creates no lock file either (it locks an existing one).
    with held(target, wait_s=lock_wait_s, create=not dry_run):
        before = record.observe() if record is not None else None
        convergence = converge(target, desired, dry_run=dry_run)
        document = as_document(convergence, root, dry_run)
        if record is not None:
            record.finish(
                before,
                document,
                lambda: as_document(converge(target, desired, dry_run=True), root, True),
            )
    bad_input = convergence.error is not None and convergence.error.type == "ContractError"
    sys.stdout.write(render(document, as_json))
    if convergence.error is not None:
        print(f"error: {convergence.error.message}", file=sys.stderr)
    if bad_input:
        return ExitCode.INPUT
    return (
        ExitCode.OK
        if convergence.status.ok or convergence.status == "drifted"
        else (ExitCode.FAILED)
    )


def load_state(state_file: Path) -> DesiredState:
    """Validate a state file; each problem names the resource's index and path, and the field.

    Raises:
        ContractError: unreadable, unparsable or invalid.
    """
    data = read_mapping(state_file)  # within the file limits; libyaml when it is there
    try:
        return DesiredState.model_validate(data)
    except ValidationError as exc:
        problems = [
            (_where(data, item["loc"]), item["msg"]) for item in exc.errors(include_url=False)
        ]
        raise ContractError(str(state_file), problems) from exc


def _where(data: dict[str, Any], loc: tuple[Any, ...]) -> str:
    """`resources.3 (/etc/motd).mode` from pydantic's ('resources', 3, 'file', 'mode')."""
    parts = [str(part) for part in loc if not str(part).startswith("function-")]
    if len(loc) >= 2 and loc[0] in ("resources", "checks") and isinstance(loc[1], int):
        items = data.get(loc[0])
        item = items[loc[1]] if isinstance(items, list) and loc[1] < len(items) else None
        rest = parts[2:]
        if isinstance(item, dict) and rest and rest[0] == item.get("kind"):
            rest = rest[1:]
        label = f"{loc[0]}.{loc[1]}"
        if isinstance(item, dict) and isinstance(item.get("path"), str):
            label += f" ({item['path']})"
        return ".".join([label, *rest])
    return ".".join(parts)


def local_target(root: Path) -> Target:
    """The target a local root stands for: named after this host, address local://ROOT."""
    name = _NOT_A_WORD.sub("-", hostname().split(".")[0]).strip("-_")[:63] or "local"
    return Target(
        id=name,
        region="local",
        environment="local",
        address="local://" + str(root.absolute()),
    )


def as_document(convergence: Convergence, root: Path, dry_run: bool) -> dict[str, Any]:
    """The --json object: status, counts per resource status, and every resource."""
    return {
        "status": str(convergence.status),
        "dry_run": dry_run,
        "root": str(root),
        "counts": _counts(convergence),
        "resources": [outcome.model_dump(mode="json") for outcome in convergence.resources],
        "error": None if convergence.error is None else convergence.error.model_dump(),
    }


def _counts(convergence: Convergence) -> dict[str, int]:
    """Resources per status, every status present."""
    counts = dict.fromkeys((str(status) for status in ResourceStatus), 0)
    for outcome in convergence.resources:
        counts[str(outcome.status)] += 1
    return counts
