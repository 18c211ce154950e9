"""Regular files: content (or a rendered template), mode and ownership, written atomically."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from contracts.resources import FileSpec
from workers.engine.hosts import Host
from workers.engine.resources.base import Action, Context, ResourceError, SpecError
from workers.engine.resources.contents import digest, unified_diff
from workers.engine.resources.ownership import (
    DEFAULT_FILE_MODE,
    Inode,
    check_hardlinks,
    check_setid,
    lookup_gid,
    lookup_uid,
    ownership_changes,
    parse_mode,
    show_mode,
)
from workers.engine.resources.paths import is_root, path_errors


@dataclass(frozen=True)
class DesiredFile:
    """A FileSpec settled for one target: bytes to write (None: metadata only), mode, owner."""

    path: str
    content: bytes | None
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    sensitive: bool = False
    allow_hardlinks: bool = False
    allow_setid: bool = False


@dataclass(frozen=True)
class ObservedFile:
    """What is at the file's path (a link followed inside the root): entry and bytes."""

    location: str
    entry: Inode | None = None
    content: bytes | None = None


class Files:
    """The `file` resource type."""

    def prepare(self, spec: FileSpec, context: Context) -> DesiredFile:
        """Render the template, look up owner and group, and confine the path."""
        text = spec.content
        if spec.template is not None:
            from workers.engine.resources.templates import render

            try:
                text = render(spec.template, context.facts)
            except SpecError as exc:  # its reason may quote a value the template used
                if not spec.sensitive:
                    raise
                raise SpecError("template", "does not render (sensitive: reason hidden)") from exc
        if is_root(spec.path):
            raise SpecError("path", "a file cannot be the target's root")
        return DesiredFile(
            spec.path,
            None if text is None else text.encode("utf-8"),
            parse_mode(spec.mode or ("0600" if spec.sensitive else None)),
            lookup_uid(spec.owner),
            lookup_gid(spec.group),
            spec.sensitive,
            spec.allow_hardlinks,
            spec.allow_setid,
        )

    def observe(self, target: Host, desired: DesiredFile) -> ObservedFile:
        """One lstat and, for a regular file, one read (following a confined symlink)."""
        return observe_file(target, desired.path)

    def diff(self, desired: DesiredFile, observed: ObservedFile) -> list[Action]:
        """Pure: write when absent or different, then fix mode and owner.

        Without content, only metadata is managed: an empty file is created when none
        exists, and an existing one is never truncated.
        """
        entry = observed.entry
        if entry is not None and entry.kind != "file":
            raise ResourceError(f"a {entry.kind} is in the way of file {desired.path}")
        wanted = desired.content
        if wanted is None:
            wanted = b"" if entry is None else observed.content
        if observed.content == wanted:
            changes = ownership_changes(desired.mode, desired.uid, desired.gid, entry)
            if changes:
                check_hardlinks(desired.path, entry, desired.allow_hardlinks)
            return changes
        check_hardlinks(desired.path, entry, desired.allow_hardlinks)
        kept = entry.mode if entry is not None else DEFAULT_FILE_MODE
        check_setid(desired.path, kept if desired.mode is None else None, desired.allow_setid)
        new = wanted or b""
        verb = "create" if entry is None else "write"
        if desired.sensitive:
            return [Action(verb, f"{verb} content (sensitive)")]
        summary = f"{verb} content {digest(observed.content)} -> {digest(new)}"
        return [Action(verb, summary, unified_diff(desired.path, observed.content, new))]

    def apply(
        self,
        target: Host,
        desired: DesiredFile,
        observed: ObservedFile,
        changes: Sequence[Action],
    ) -> None:
        """Write atomically (mode and owner set before the rename), or fix them in place."""
        actions = {change.action for change in changes}
        entry = observed.entry
        with path_errors(desired.path):
            if actions & {"create", "write"}:
                mode = desired.mode
                if mode is None:
                    mode = DEFAULT_FILE_MODE if entry is None else entry.mode
                uid, gid = kept_owner(entry)
                uid = uid if desired.uid is None else desired.uid
                gid = gid if desired.gid is None else desired.gid
                target.put(
                    desired.path,
                    desired.content or b"",
                    mode=mode,
                    uid=uid,
                    gid=gid,
                    allow_hardlinks=desired.allow_hardlinks,
                )
                return
            target.set_meta(
                desired.path,
                mode=desired.mode if "mode" in actions else None,
                uid=desired.uid if "owner" in actions else None,
                gid=desired.gid if "owner" in actions else None,
                allow_hardlinks=desired.allow_hardlinks,
            )

    def summarize(
        self, desired: DesiredFile, observed: ObservedFile, changes: Sequence[Action]
    ) -> str:
        """Old and new hash and mode, e.g. "sha256:ab12… -> sha256:cd34…, mode 0644"."""
        entry = observed.entry
        old_mode = show_mode(entry.mode if entry is not None else None)
        if desired.mode is not None:
            new_mode = show_mode(desired.mode)
        else:
            new_mode = old_mode if entry is not None else show_mode(DEFAULT_FILE_MODE)
        mode = old_mode if old_mode == new_mode else f"{old_mode} -> {new_mode}"
        wanted = desired.content
        if wanted is None:
            wanted = observed.content if entry is not None else b""
        same = observed.content == wanted
        if desired.sensitive:
            content = "content as desired" if same else "content changed"
            content += " (sensitive)"
        elif same:
            content = digest(wanted)
        else:
            content = f"{digest(observed.content)} -> {digest(wanted)}"
        owner = [change.summary for change in changes if change.action == "owner"]
        return ", ".join([content, f"mode {mode}", *owner])


def observe_file(target: Host, path: str) -> ObservedFile:
    """The entry at `path` (a link followed inside the root) and, for a regular file, its bytes.

    A missing directory on the way means the file is missing (a dry run plans its creation).
    """
    with path_errors(path):
        try:
            seen, content = target.read(path)
        except FileNotFoundError:
            return ObservedFile(path)
    if seen is None:
        return ObservedFile(path)
    return ObservedFile(path, Inode.of(seen), content)


def kept_owner(entry: Inode | None) -> tuple[int, int]:
    """The owner a rewritten file keeps: the old one if we may set it, else ours (-1)."""
    if entry is None or os.geteuid() != 0:
        return -1, -1
    return entry.uid, entry.gid
