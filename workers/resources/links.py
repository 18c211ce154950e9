"""Symbolic links: a path whose link text is `destination`, which must resolve under the root."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from contracts.resources import SymlinkSpec
from workers.resources.base import Change, Context, ResourceError, SpecError, join_summaries
from workers.targets import ConfinementError, Target


@dataclass(frozen=True)
class DesiredLink:
    """A SymlinkSpec whose destination has been checked against the root."""

    path: str
    destination: str
    force: bool = False


@dataclass(frozen=True)
class ObservedLink:
    """What is at the link's location: its kind, its link text, and whether a dir is empty."""

    location: str
    kind: str | None = None
    destination: str | None = None
    empty: bool = False


class Links:
    """The `symlink` resource type."""

    def prepare(self, spec: SymlinkSpec, context: Context) -> DesiredLink:
        """Confine the link itself and the place it points to, as the host would resolve it."""
        location = context.target.resolve(spec.path, follow=False)
        if location == context.target.root:
            raise SpecError("path", "the target's root cannot become a symlink")
        confine_destination(context.target, location, spec.path, spec.destination)
        return DesiredLink(spec.path, spec.destination, spec.force)

    def observe(self, target: Target, desired: DesiredLink) -> ObservedLink:
        """lstat the path (never following it) and read the link text."""
        location = target.resolve(desired.path, follow=False)
        try:
            destination = os.readlink(location)
        except FileNotFoundError:
            return ObservedLink(location)
        except OSError:
            kind = "directory" if os.path.isdir(location) else "file"
            empty = kind == "directory" and not os.listdir(location)
            return ObservedLink(location, kind, None, empty)
        return ObservedLink(location, "symlink", destination)

    def diff(self, desired: DesiredLink, observed: ObservedLink) -> list[Change]:
        """Pure: create, repoint, or (with force) replace a file or empty directory."""
        if observed.kind is None:
            return [Change("link", f"link -> {desired.destination}")]
        if observed.kind == "symlink":
            if observed.destination == desired.destination:
                return []
            return [Change("link", f"link {observed.destination} -> {desired.destination}")]
        if not desired.force or (observed.kind == "directory" and not observed.empty):
            what = "a non-empty directory" if observed.kind == "directory" else f"a {observed.kind}"
            hint = "" if observed.kind == "directory" else "; set force: true to replace it"
            raise ResourceError(f"{what} is in the way of symlink {desired.path}{hint}")
        return [Change("replace", f"replace {observed.kind} with link -> {desired.destination}")]

    def apply(
        self,
        target: Target,
        desired: DesiredLink,
        observed: ObservedLink,
        changes: Sequence[Change],
    ) -> None:
        """Create the link beside its place and rename it over, so the swap is atomic."""
        location = observed.location
        confine_destination(target, location, desired.path, desired.destination)
        directory, name = os.path.split(location)
        os.makedirs(directory, mode=0o755, exist_ok=True)
        temporary = os.path.join(directory, f".{name}.{os.getpid()}.provision-link")
        os.symlink(desired.destination, temporary)
        try:
            if observed.kind == "directory":
                os.rmdir(location)
            os.replace(temporary, location)
        except BaseException:
            os.unlink(temporary)
            raise
        target.forget()

    def summarize(
        self, desired: DesiredLink, observed: ObservedLink, changes: Sequence[Change]
    ) -> str:
        """The changes, or the link text when converged."""
        return join_summaries(changes, f"link -> {desired.destination}")


def confine_destination(target: Target, location: str, path: str, destination: str) -> None:
    """Raise ConfinementError unless `destination`, read from beside `location`, stays inside.

    Checked when preparing (before any change) and again just before the link is made,
    when links made earlier in the run resolve physically.
    """
    try:
        target.confine(os.path.join(os.path.dirname(location), destination), path)
    except ConfinementError as exc:
        raise ConfinementError(
            path,
            f"symlink destination {destination!r} {exc.reason}; "
            "a relative destination keeps the link inside the root",
        ) from None
