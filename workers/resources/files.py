"""Regular files: content (or a rendered template), mode and ownership, written atomically."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from contracts.resources import FileSpec
from workers.resources.base import Change, Context, ResourceError, SpecError
from workers.resources.contents import digest, unified_diff
from workers.resources.ownership import (
    DEFAULT_FILE_MODE,
    Entry,
    lookup_gid,
    lookup_uid,
    ownership_changes,
    parse_mode,
    set_owner,
    show_mode,
)
from workers.targets import Target


@dataclass(frozen=True)
class DesiredFile:
    """A FileSpec settled for one target: bytes to write and numeric mode and owner."""

    path: str
    content: bytes
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    sensitive: bool = False


@dataclass(frozen=True)
class ObservedFile:
    """What is at the file's real location: an entry (None if absent) and its bytes."""

    location: str
    entry: Entry | None = None
    content: bytes | None = None


class Files:
    """The `file` resource type."""

    def prepare(self, spec: FileSpec, context: Context) -> DesiredFile:
        """Render the template, look up owner and group, and confine the path."""
        text = spec.content
        if spec.template is not None:
            from workers.resources.templates import render

            try:
                text = render(spec.template, context.facts)
            except SpecError as exc:  # its reason may quote a value the template used
                if not spec.sensitive:
                    raise
                raise SpecError("template", "does not render (sensitive: reason hidden)") from exc
        if context.target.resolve(spec.path) == context.target.root:
            raise SpecError("path", "a file cannot be the target's root")
        return DesiredFile(
            spec.path,
            text.encode("utf-8"),
            parse_mode(spec.mode or ("0600" if spec.sensitive else None)),
            lookup_uid(spec.owner),
            lookup_gid(spec.group),
            spec.sensitive,
        )

    def observe(self, target: Target, desired: DesiredFile) -> ObservedFile:
        """One lstat and, for a regular file, one read (following a confined symlink)."""
        return observe_file(target, desired.path)

    def diff(self, desired: DesiredFile, observed: ObservedFile) -> list[Change]:
        """Pure: write when absent or different, then fix mode and owner."""
        entry = observed.entry
        if entry is not None and entry.kind != "file":
            raise ResourceError(f"a {entry.kind} is in the way of file {desired.path}")
        if observed.content == desired.content:
            return ownership_changes(desired.mode, desired.uid, desired.gid, entry)
        verb = "create" if entry is None else "write"
        if desired.sensitive:
            return [Change(verb, f"{verb} content (sensitive)")]
        summary = f"{verb} content {digest(observed.content)} -> {digest(desired.content)}"
        return [
            Change(verb, summary, unified_diff(desired.path, observed.content, desired.content))
        ]

    def apply(
        self,
        target: Target,
        desired: DesiredFile,
        observed: ObservedFile,
        changes: Sequence[Change],
    ) -> None:
        """Write atomically (mode and owner set before the rename), or fix them in place."""
        actions = {change.action for change in changes}
        entry = observed.entry
        if actions & {"create", "write"}:
            mode = desired.mode
            if mode is None:
                mode = DEFAULT_FILE_MODE if entry is None else entry.mode
            uid, gid = kept_owner(entry)
            uid = uid if desired.uid is None else desired.uid
            gid = gid if desired.gid is None else desired.gid
            os.makedirs(os.path.dirname(observed.location), mode=0o755, exist_ok=True)
            try:
                target.put(observed.location, desired.content, mode=mode, uid=uid, gid=gid)
            except PermissionError as exc:
                raise ResourceError(f"cannot write {desired.path}: {exc}") from exc
            return
        if "owner" in actions:
            set_owner(observed.location, desired.uid, desired.gid)
        if "mode" in actions and desired.mode is not None:
            os.chmod(observed.location, desired.mode)

    def summarize(
        self, desired: DesiredFile, observed: ObservedFile, changes: Sequence[Change]
    ) -> str:
        """Old and new hash and mode, e.g. "sha256:ab12… -> sha256:cd34…, mode 0644"."""
        entry = observed.entry
        old_mode = show_mode(entry.mode if entry is not None else None)
        if desired.mode is not None:
            new_mode = show_mode(desired.mode)
        else:
            new_mode = old_mode if entry is not None else show_mode(DEFAULT_FILE_MODE)
        mode = old_mode if old_mode == new_mode else f"{old_mode} -> {new_mode}"
        same = observed.content == desired.content
        if desired.sensitive:
            content = "content as desired" if same else "content changed"
            content += " (sensitive)"
        elif same:
            content = digest(desired.content)
        else:
            content = f"{digest(observed.content)} -> {digest(desired.content)}"
        owner = [change.summary for change in changes if change.action == "owner"]
        return ", ".join([content, f"mode {mode}", *owner])


def observe_file(target: Target, path: str) -> ObservedFile:
    """One lstat and, for a regular file, one read; a symlink is followed only inside the root."""
    location = target.resolve(path, follow=False)
    try:
        seen = os.lstat(location)
    except FileNotFoundError:
        return ObservedFile(location)
    entry = Entry.of(seen)
    if entry.kind == "symlink":
        location = target.resolve(path)
        try:
            entry = Entry.of(os.stat(location))
        except FileNotFoundError:
            return ObservedFile(location)
    if entry.kind != "file":
        return ObservedFile(location, entry)
    with open(location, "rb") as handle:
        return ObservedFile(location, entry, handle.read())


def kept_owner(entry: Entry | None) -> tuple[int, int]:
    """The owner a rewritten file keeps: the old one if we may set it, else ours (-1)."""
    if entry is None or os.geteuid() != 0:
        return -1, -1
    return entry.uid, entry.gid
