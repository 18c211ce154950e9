"""Symbolic links: a path whose link text is `destination`, read inside the target's root."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from contracts.resources import SymlinkSpec
from workers.engine.hosts import Host
from workers.engine.resources.base import Action, Context, ResourceError, SpecError, join_summaries
from workers.engine.resources.ownership import Inode
from workers.engine.resources.paths import entry_at, is_root, path_errors


@dataclass(frozen=True)
class DesiredLink:
    """A SymlinkSpec: where the link goes and its text."""

    path: str
    destination: str
    force: bool = False


@dataclass(frozen=True)
class ObservedLink:
    """What is at the link's location: its kind, its link text, and whether a dir is empty."""

    path: str
    kind: str | None = None
    destination: str | None = None
    empty: bool = False


class Links:
    """The `symlink` resource type."""

    def prepare(self, spec: SymlinkSpec, context: Context) -> DesiredLink:
        """Any destination is written as given: the engine reads it inside the root.

        An absolute destination means the target's own `/`, so `/etc/app/current ->
        /etc/app/f0.conf` is the usual way of writing a link, not an escape.
        """
        if is_root(spec.path):
            raise SpecError("path", "the target's root cannot become a symlink")
        return DesiredLink(spec.path, spec.destination, spec.force)

    def observe(self, target: Host, desired: DesiredLink) -> ObservedLink:
        """lstat the path (never following it) and read the link text."""
        path = desired.path
        with path_errors(path):
            seen = entry_at(target, path, follow=False)
            if seen is None:
                return ObservedLink(path)
            kind = Inode.of(seen).kind
            if kind == "symlink":
                return ObservedLink(path, "symlink", target.readlink(path))
            empty = kind == "directory" and not target.listdir(path)
        return ObservedLink(path, kind, None, empty)

    def diff(self, desired: DesiredLink, observed: ObservedLink) -> list[Action]:
        """Pure: create, repoint, or (with force) replace a file or empty directory."""
        if observed.kind is None:
            return [Action("link", f"link -> {desired.destination}")]
        if observed.kind == "symlink":
            if observed.destination == desired.destination:
                return []
            return [Action("link", f"link {observed.destination} -> {desired.destination}")]
        if not desired.force or (observed.kind == "directory" and not observed.empty):
            what = "a non-empty directory" if observed.kind == "directory" else f"a {observed.kind}"
            hint = "" if observed.kind == "directory" else "; set force: true to replace it"
            raise ResourceError(f"{what} is in the way of symlink {desired.path}{hint}")
        return [Action("replace", f"replace {observed.kind} with link -> {desired.destination}")]

    def apply(
        self,
        target: Host,
        desired: DesiredLink,
        observed: ObservedLink,
        changes: Sequence[Action],
    ) -> None:
        """Create the link beside its place and rename it over, so the swap is atomic."""
        with path_errors(desired.path):
            target.symlink(
                desired.path, desired.destination, replace_dir=observed.kind == "directory"
            )

    def summarize(
        self, desired: DesiredLink, observed: ObservedLink, changes: Sequence[Action]
    ) -> str:
        """The changes, or the link text when converged."""
        return join_summaries(changes, f"link -> {desired.destination}")
