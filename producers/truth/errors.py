"""Errors of the source of truth; each names what was asked for and what exists."""

from __future__ import annotations

from dataclasses import dataclass

from contracts import ContractError, ExitCode, ProvisioningError


@dataclass(frozen=True)
class Problem:
    """One reason a source-of-truth directory does not validate."""

    file: str
    field: str
    reason: str

    def line(self, root: str = "") -> str:
        where = f"{root.rstrip('/')}/{self.file}" if root else self.file
        return f"{where}: {self.field or '<root>'}: {self.reason}"


class SourceInvalid(ContractError):
    """A source of truth that does not validate; every problem is listed, nothing is stored."""

    def __init__(self, root: str, problems: list[Problem]) -> None:
        self.root = root
        self.items = problems
        self.source = root
        self.problems = [(f"{p.file}:{p.field}", p.reason) for p in problems]
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        lines = [f"source of truth {root or '(revision)'} does not validate ({count}); "]
        lines[0] += "no revision was stored"
        lines += [f"  {p.line(root)}" for p in problems]
        Exception.__init__(self, "\n".join(lines))


class UnknownRevision(ProvisioningError):
    """No revision with that number (or none published yet)."""

    exit_code = ExitCode.INPUT


class UnknownTarget(ProvisioningError):
    """The revision's inventory has no target with that id."""

    exit_code = ExitCode.INPUT


class WaiverError(ProvisioningError):
    """A waiver command cannot be carried out: unknown id, duplicate, already expired."""

    exit_code = ExitCode.INPUT
