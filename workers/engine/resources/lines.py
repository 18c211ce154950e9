"""Lines in files: one line present (optionally replacing the lines a regex matches) or absent."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from contracts.resources import LineSpec
from workers.engine.hosts import Host
from workers.engine.resources.base import Action, Context, ResourceError
from workers.engine.resources.contents import split_lines, unified_diff
from workers.engine.resources.files import ObservedFile, kept_owner, observe_file
from workers.engine.resources.ownership import DEFAULT_FILE_MODE, check_hardlinks
from workers.engine.resources.paths import path_errors


@dataclass(frozen=True)
class DesiredLine:
    """A LineSpec with its regex compiled."""

    path: str
    line: str | None
    present: bool = True
    match: re.Pattern[str] | None = None
    create: bool = False
    sensitive: bool = False
    allow_hardlinks: bool = False


def edit(text: str, desired: DesiredLine) -> str:
    """Pure: the file's text with the line put in (or taken out).

    Lines end at `\n` only; a `\r` before it is part of the ending and kept. Present:
    every line matching `match` becomes `line`; if none match and `line` is missing, it is
    appended. Absent: with `match`, exactly the matching lines are removed; without, the
    lines equal to `line`.
    """
    lines = split_lines(text)
    bare = [_body(item) for item in lines]
    pattern = desired.match
    if not desired.present:
        if pattern is not None:
            kept = [
                item for item, body in zip(lines, bare, strict=True) if not pattern.search(body)
            ]
        else:
            kept = [item for item, body in zip(lines, bare, strict=True) if body != desired.line]
        return "".join(kept)
    line = desired.line or ""
    hits = [i for i, body in enumerate(bare) if pattern and pattern.search(body)]
    for i in hits:
        lines[i] = line + lines[i][len(bare[i]) :]
    if hits or line in bare:
        return "".join(lines)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    return "".join([*lines, line + "\n"])


def _body(line: str) -> str:
    """A line without its ending (`\n` or `\r\n`)."""
    if line.endswith("\r\n"):
        return line[:-2]
    return line[:-1] if line.endswith("\n") else line


class Lines:
    """The `line` resource type."""

    def prepare(self, spec: LineSpec, context: Context) -> DesiredLine:
        """Compile the regex (already checked by the contract)."""
        match = re.compile(spec.match) if spec.match is not None else None
        return DesiredLine(
            spec.path,
            spec.line,
            spec.present,
            match,
            spec.create,
            spec.sensitive,
            spec.allow_hardlinks,
        )

    def observe(self, target: Host, desired: DesiredLine) -> ObservedFile:
        """The file, as the `file` type sees it."""
        return observe_file(target, desired.path)

    def diff(self, desired: DesiredLine, observed: ObservedFile) -> list[Action]:
        """Pure: one write when the edited text differs from what is there."""
        entry = observed.entry
        if entry is not None and entry.kind != "file":
            raise ResourceError(f"a {entry.kind} is in the way of file {desired.path}")
        if observed.content is None and desired.present and not desired.create:
            raise ResourceError(f"{desired.path} does not exist (set create: true to create it)")
        if observed.content is None and not desired.present:
            return []
        old = (observed.content or b"").decode("utf-8", "surrogateescape")
        new = edit(old, desired)
        if new == old:
            return []
        check_hardlinks(desired.path, entry, desired.allow_hardlinks)
        verb = "add line" if desired.present else "remove line"
        data = new.encode("utf-8", "surrogateescape")
        shown = None if desired.sensitive else unified_diff(desired.path, observed.content, data)
        return [Action("write", verb + (" (sensitive)" if desired.sensitive else ""), shown)]

    def apply(
        self,
        target: Host,
        desired: DesiredLine,
        observed: ObservedFile,
        changes: Sequence[Action],
    ) -> None:
        """Rewrite the file atomically, keeping its mode (and owner where we may).

        A file created here gets its missing parent directories too.
        """
        old = (observed.content or b"").decode("utf-8", "surrogateescape")
        data = edit(old, desired).encode("utf-8", "surrogateescape")
        entry = observed.entry
        uid, gid = kept_owner(entry)
        new_mode = 0o600 if desired.sensitive else DEFAULT_FILE_MODE
        mode = entry.mode if entry is not None else new_mode
        with path_errors(desired.path):
            target.put(
                desired.path,
                data,
                mode=mode,
                uid=uid,
                gid=gid,
                allow_hardlinks=desired.allow_hardlinks,
            )

    def summarize(
        self, desired: DesiredLine, observed: ObservedFile, changes: Sequence[Action]
    ) -> str:
        """The change, or whether the line is present or absent."""
        if changes:
            return changes[0].summary
        return "line present" if desired.present else "line absent"
