"""Commands: an argv run on the target unless its guards (creates, unless, onlyif) say done.

Spec values never reach a shell unless the spec says `shell: true`; then `argv[0]` (and
each guard) is a script for `/bin/sh -c`.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field

from contracts.resources import CommandSpec
from workers.engine.hosts import CommandResult, Host, ended
from workers.engine.resources.base import Action, Context, ResourceError, SpecError
from workers.engine.resources.ownership import Inode
from workers.engine.resources.paths import entry_at, path_errors


class CommandFailed(ResourceError):
    """A command (or a guard) could not run, exited non-zero, or timed out."""


@dataclass(frozen=True)
class DesiredCommand:
    """A CommandSpec with its argvs final (shell wrapping applied)."""

    cwd: str
    argv: tuple[str, ...]
    creates: str | None = None
    unless: tuple[str, ...] | None = None
    onlyif: tuple[str, ...] | None = None
    timeout_s: float = 300.0
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ObservedCommand:
    """Where it would run, and the guard's reason it is already done (None: it should run)."""

    cwd: str
    done: str | None = None


def _argv(argv: tuple[str, ...] | None, shell: bool) -> tuple[str, ...] | None:
    if argv is None or not shell:
        return argv
    return ("/bin/sh", "-c", argv[0])


class Commands:
    """The `command` resource type."""

    def prepare(self, spec: CommandSpec, context: Context) -> DesiredCommand:
        """Check the environment's names."""
        for name in spec.env:
            if not name or "=" in name or "\x00" in name + spec.env[name]:
                raise SpecError("env", f"invalid environment variable name or value: {name!r}")
        return DesiredCommand(
            spec.path,
            _argv(spec.argv, spec.shell) or (),
            spec.creates,
            _argv(spec.unless, spec.shell),
            _argv(spec.onlyif, spec.shell),
            spec.timeout_s,
            dict(spec.env),
        )

    def observe(self, target: Host, desired: DesiredCommand) -> ObservedCommand:
        """Evaluate the guards in order: creates (a path), unless and onlyif (commands).

        Guards run in dry runs too, so they must only read. Only how a guard ended is
        reported, never what it printed.
        """
        cwd = desired.cwd
        with path_errors(cwd):
            seen = entry_at(target, cwd)
            if seen is None or Inode.of(seen).kind != "directory":
                raise CommandFailed(f"working directory {cwd} does not exist")
            creates = desired.creates
            if creates is not None and entry_at(target, creates, follow=False) is not None:
                return ObservedCommand(cwd, f"{desired.creates} exists")
        if desired.unless is not None and self._run(target, desired, desired.unless, cwd).ok:
            return ObservedCommand(cwd, "unless exited 0")
        if desired.onlyif is not None:
            result = self._run(target, desired, desired.onlyif, cwd)
            if not result.ok:
                return ObservedCommand(cwd, f"onlyif {ended(result)}")
        return ObservedCommand(cwd)

    def diff(self, desired: DesiredCommand, observed: ObservedCommand) -> list[Action]:
        """Pure: run unless a guard said it is done."""
        if observed.done is not None:
            return []
        return [Action("run", f"run {shlex.join(desired.argv)}")]

    def apply(
        self,
        target: Host,
        desired: DesiredCommand,
        observed: ObservedCommand,
        changes: Sequence[Action],
    ) -> None:
        """Run the command; non-zero exit or timeout fails the resource."""
        result = self._run(target, desired, desired.argv, observed.cwd)
        if not result.ok:
            raise CommandFailed(f"{shlex.join(desired.argv)} {result.describe()}")

    def summarize(
        self, desired: DesiredCommand, observed: ObservedCommand, changes: Sequence[Action]
    ) -> str:
        """What ran (or would run), or the guard that said it is done."""
        return changes[0].summary if changes else f"not run: {observed.done}"

    @staticmethod
    def _run(target: Host, desired: DesiredCommand, argv: Sequence[str], cwd: str) -> CommandResult:
        try:
            return target.run(argv, cwd=cwd, env=desired.env, timeout_s=desired.timeout_s)
        except OSError as exc:
            raise CommandFailed(f"{argv[0]} could not start: {exc.strerror or exc}") from exc
