"""What a resource type is: prepare the spec, observe the target, diff, then apply.

`diff` is pure (desired + observed → changes, as data), so dry runs, outcomes and tests
all see the same `Action` summaries. `observe` reads only; `apply` is the only writer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from contracts import ProvisioningError
from workers.engine.hosts import Host


@dataclass(frozen=True)
class Action:
    """One step that moves a target toward its desired state.

    Args:
        action: What `apply` should do, in the resource type's own words ("write", "mode").
        summary: One line for humans, e.g. "mode 0644 -> 0600".
        diff: A unified diff of content, for dry runs; None when sensitive or not textual.
    """

    action: str
    summary: str
    diff: str | None = None


@dataclass(frozen=True)
class Context:
    """What `prepare` may consult: the connected target and the facts for templates."""

    target: Host
    facts: Mapping[str, Any] = field(default_factory=dict)


class SpecError(ProvisioningError):
    """A spec field cannot be honoured on this target (unknown user, bad template).

    The engine names the resource (index and path) in front of `field`.
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class ResourceError(ProvisioningError):
    """Observing or applying one resource failed; the resource's dependents are skipped."""


class ResourceType(Protocol):
    """How one `kind` of ResourceSpec is converged."""

    def prepare(self, spec: Any, context: Context) -> Any:
        """Settle what the spec asks for on this target, changing nothing.

        Renders templates and looks up owners, so bad input is found before anything is
        applied. Paths are not resolved here: every read and write resolves afresh, inside
        the root.

        Raises:
            SpecError: a field cannot be honoured.
        """
        ...

    def observe(self, target: Host, desired: Any) -> Any:
        """Read what is there now. Never changes anything."""
        ...

    def diff(self, desired: Any, observed: Any) -> Sequence[Action]:
        """Pure: the changes that take `observed` to `desired`. Empty means converged."""
        ...

    def apply(self, target: Host, desired: Any, observed: Any, changes: Sequence[Action]) -> None:
        """Carry out `changes`. Raises ResourceError (or OSError) when it cannot."""
        ...

    def summarize(self, desired: Any, observed: Any, changes: Sequence[Action]) -> str:
        """Pure: one line describing the result (or, in a dry run, the plan)."""
        ...


def join_summaries(changes: Sequence[Action], converged: str = "as desired") -> str:
    """The default one-line summary: each change's summary, or `converged`."""
    return "; ".join(change.summary for change in changes) or converged
