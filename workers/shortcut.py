"""`provision converge ROOT STATE_FILE` without starting the engine, when the witness shows
that nothing has changed since a run that found ROOT converged to the same state file.

This module imports only the standard library and the witness modules, and `python -m
workers` tries it before anything else: a hit prints exactly what the engine would
print (the same JSON document, the same lines) and exits 0; on anything else (another
command or flag, a changed state file, code or setting, a file changed, a link on the way,
the target's lock busy or missing, a cache not the user's own) it returns None and the
engine runs as always. It changes nothing under the root. `workers.standalone` writes
the witness (`remember`) after each run whose state is of plain files.
"""

from __future__ import annotations

import hashlib
import os
import sys

from workers import witness, witness_cache
from workers.engine.target_files import LOCK_FILE

#: Set only by type checkers: importing `typing` (and `dataclasses`) would cost this path
#: more than its whole work on a thousand files.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TextIO

#: The flags a shortcut run understands; any other argument means: run the engine.
FLAGS = frozenset({"--json", "--dry-run"})
#: A state file larger than this is never shortcut (the engine applies its own limit).
MAX_STATE_BYTES = 64 * 1024 * 1024
_STATE_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


class Request:
    """`converge ROOT STATE_FILE [--json] [--dry-run]`, as the command line gave it."""

    __slots__ = ("as_json", "dry_run", "root", "state_file")

    def __init__(
        self, root: str, state_file: str, dry_run: bool = False, as_json: bool = False
    ) -> None:
        self.root = root
        self.state_file = state_file
        self.dry_run = dry_run
        self.as_json = as_json


def request(argv: list[str]) -> Request | None:
    """The converge request in `argv` (after the program name), or None when it is not one."""
    if not argv or argv[0] != "converge":
        return None
    words = [arg for arg in argv[1:] if arg not in FLAGS]
    if len(words) != 2 or any(word.startswith("-") or not word for word in words):
        return None
    return Request(words[0], words[1], "--dry-run" in argv, "--json" in argv)


def run(argv: list[str], out: TextIO | None = None) -> int | None:
    """Print what the engine would and return its exit code; None: run the engine."""
    asked = request(argv)
    if asked is None or "PROVISION_ENV_FILE" in os.environ:
        return None  # an env file may change settings the stamp cannot see before it loads
    try:
        document = _witnessed(asked)
        if document is None:
            return None
        text = render(
            {"status": "converged", "dry_run": asked.dry_run, "root": shown(asked.root)}
            | {"counts": document["counts"], "resources": document["resources"], "error": None},
            asked.as_json,
        )
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None  # a cache file only its user can write, but still: doubt means the engine
    (out or sys.stdout).write(text)
    return 0


def _witnessed(asked: Request) -> dict[str, Any] | None:
    """The converged document the witness vouches for, or None."""
    state = state_digest(asked.state_file)
    if state is None:
        return None
    cache = witness_cache.opened()
    if cache is None:
        return None
    try:
        entry = witness_cache.load(cache, witness_cache.entry_name(asked.root, asked.state_file))
        key = witness_cache.key(cache)
    finally:
        os.close(cache)
    if entry is None or key is None or entry.get("state") != state:
        return None
    if entry.get("stamp") != witness_cache.stamp():
        return None
    lock = witness.open_under(asked.root, LOCK_FILE, os.O_RDWR)
    if lock is None:
        return None
    try:
        import fcntl

        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None  # a worker or an agent is converging it: the engine waits its turn
        if witness.observe(asked.root, list(entry["paths"]), key) != entry["seen"]:
            return None
    finally:
        os.close(lock)
    document = entry["document"]
    return document if document.get("status") == "converged" else None


def state_digest(path: str) -> str | None:
    """sha256 of the state file's bytes, or None when it is not a regular file within
    MAX_STATE_BYTES."""
    try:
        descriptor = os.open(path, _STATE_FLAGS)
    except OSError:
        return None
    try:
        info = os.fstat(descriptor)
        if not witness.regular(info) or info.st_size > MAX_STATE_BYTES:
            return None
        data = os.read(descriptor, info.st_size + 1)
    finally:
        os.close(descriptor)
    return hashlib.sha256(data).hexdigest() if len(data) == info.st_size else None


def shown(root: str) -> str:
    """ROOT as the engine's document shows it: as `str(pathlib.Path(root))` does (no `.`
    names, no repeated or trailing slash, a leading `//` kept), without importing pathlib."""
    head = "/" if root.startswith("/") else ""
    if root.startswith("//") and not root.startswith("///"):
        head = "//"
    return head + "/".join(name for name in root.split("/") if name and name != ".") or "."


def remember(
    asked: Request, state: str, paths: list[str], seen: list[witness.Seen], document: dict
) -> None:
    """Keep the witness of a converged root for the next run (best effort: never fails)."""
    kept = {key: document[key] for key in ("status", "counts", "resources")}
    cache = witness_cache.opened(create=True)
    if cache is None:
        return
    try:
        entry = {"stamp": witness_cache.stamp(), "state": state, "paths": paths, "seen": seen}
        name = witness_cache.entry_name(asked.root, asked.state_file)
        witness_cache.save(cache, name, entry | {"document": kept})
    except (OSError, ValueError):
        pass  # a full disk, a module gone mid-walk: the next run simply runs the engine
    finally:
        os.close(cache)


def render(document: dict[str, Any], as_json: bool) -> str:
    """The run's output: one JSON object, or one line per resource and then the counts."""
    if as_json:
        import json

        return json.dumps(document, separators=(",", ":")) + "\n"
    lines = []
    for outcome in document["resources"]:
        lines.append(
            f"{outcome['status']:<9} {outcome['kind']:<9} {outcome['path']}  {outcome['summary']}\n"
        )
        if outcome.get("diff"):
            lines.append(outcome["diff"])
    counts = ", ".join(f"{count} {status}" for status, count in document["counts"].items() if count)
    lines.append(f"{document['status']}: {counts or 'no resources'}\n")
    return "".join(lines)
