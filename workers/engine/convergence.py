"""The convergence engine: for one target, prepare → check readiness → observe, diff, apply.

Workers and the pull agent both call `converge`; nothing else touches machines. Every
spec is prepared (templates rendered, owners looked up) before anything is applied, so
bad input changes nothing. Every path is resolved inside the target's root, afresh, at
each read and write (`workers.engine.hosts.walk`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from contracts import (
    DesiredState,
    ErrorInfo,
    OutcomeStatus,
    ProvisioningError,
    ResourceOutcome,
    ResourceSpec,
    ResourceStatus,
    Target,
)
from contracts.redaction import mark_sensitive
from workers.engine import spans
from workers.engine.facts import gather
from workers.engine.hosts import Host, PathError, TargetError, connect
from workers.engine.resources import RESOURCES, Context, SpecError
from workers.engine.waivers import Waivers, expired, waived


@dataclass(frozen=True)
class Convergence:
    """What converging one target did (or, in a dry run, would do).

    Args:
        status: CHANGED, CONVERGED, DRIFTED (dry run), FAILED or NOT_READY.
        resources: One outcome per resource of the desired state, in order.
        error: The first failure (permanent) or the readiness evidence (transient).
    """

    status: OutcomeStatus
    resources: tuple[ResourceOutcome, ...]
    error: ErrorInfo | None = None


def converge(
    target: Target, desired: DesiredState, *, dry_run: bool = False, host: Host | None = None
) -> Convergence:
    """Bring `target` to `desired`, resource by resource, skipping the dependents of failures.

    Args:
        target: The target; its address picks how it is reached (`local:///root`).
        desired: Readiness checks, then the resources in the order they apply.
        dry_run: Observe and diff only; report what would change (status DRIFTED).
        host: The target already connected (the caller's to close): a worker opens it
            once per request for its allow check, lock and journal, and the engine uses it
            too instead of resolving and checking the same root again. Its writes are
            still made durable (`sync`) before this returns.

    Returns:
        The convergence. Expected failures (bad specs, confinement violations, unknown
        address schemes, a missing root, failed readiness checks) come back as values.
    """
    try:
        reached = connect(target) if host is None else host
    except TargetError as exc:
        reason = f"not applied: {type(exc).__name__}"
        return _stopped(desired.resources, OutcomeStatus.FAILED, reason, _error(exc))
    facts = {**gather(target), "values": dict(desired.values)}
    # `sensitive` is a property of the path: every file and line on it hides its content.
    desired = desired.model_copy(update={"resources": mark_sensitive(desired.resources)})
    try:
        return _converge(reached, facts, desired, dry_run, Waivers(target, desired.waivers))
    finally:
        if host is None:
            reached.close()
        else:
            reached.sync()


def _converge(
    target: Host,
    facts: dict[str, Any],
    desired: DesiredState,
    dry_run: bool,
    waivers: Waivers,
) -> Convergence:
    context = Context(target, facts)
    prepared: list[Any] = []
    problems: dict[int, Exception] = {}
    for index, spec in enumerate(desired.resources):
        try:
            prepared.append(RESOURCES[spec.kind].prepare(spec, context))
        except Exception as exc:  # SpecError, or anything else a spec cannot be settled with
            problems[index] = exc
            prepared.append(None)
    if problems:
        return _rejected(desired.resources, problems)
    if desired.checks:
        from workers.engine.readiness import evaluate

        with spans.span("provision readiness") as span:
            evidence = evaluate(target, desired.checks)
            span.set_attribute("provision.checks", len(desired.checks))
            span.set_attribute(spans.STATUS, "not_ready" if evidence else "ready")
            if evidence:
                span.set_attribute("provision.evidence", "; ".join(evidence)[:1000])
        if evidence:
            error = ErrorInfo(type="NotReady", message="; ".join(evidence), transient=True)
            return _stopped(
                desired.resources, OutcomeStatus.NOT_READY, "not applied: not ready", error
            )
    return _apply(target, desired.resources, prepared, dry_run, waivers)


def _apply(
    target: Host,
    specs: Sequence[ResourceSpec],
    prepared: list[Any],
    dry_run: bool,
    waivers: Waivers,
) -> Convergence:
    outcomes: list[ResourceOutcome] = []
    broken: dict[str, str] = {}
    first_error: ErrorInfo | None = None
    changed = False
    for index, (spec, desired) in enumerate(zip(specs, prepared, strict=True)):
        label = _label(spec)
        blocked = next((name for name in spec.requires if name in broken), None)
        if blocked is not None:
            summary = f"requires {blocked}, which {broken[blocked]}"
            outcomes.append(_outcome(spec, label, ResourceStatus.SKIPPED, summary))
            broken.update(dict.fromkeys(spec.refs, "was skipped"))
            continue
        waiver = waivers.active(label)
        if waiver is not None:
            outcomes.append(_outcome(spec, label, ResourceStatus.EXCEPTED, waived(waiver)))
            continue
        resource = RESOURCES[spec.kind]
        attributes = {"provision.resource.kind": spec.kind, "provision.resource": label}
        try:
            with spans.span(f"provision apply {spec.kind}", attributes) as span:
                observed = resource.observe(target, desired)
                changes = resource.diff(desired, observed)
                if changes and not dry_run:
                    resource.apply(target, desired, observed, changes)
                summary = resource.summarize(desired, observed, changes)
                span.set_attribute(spans.STATUS, "changed" if changes else "converged")
        except Exception as exc:  # one resource's failure must not stop the independent ones
            message = _first_line(exc)
            outcomes.append(_outcome(spec, label, ResourceStatus.FAILED, message))
            broken.update(dict.fromkeys(spec.refs, "failed"))
            if first_error is None:
                first_error = ErrorInfo(
                    type=type(exc).__name__,
                    message=f"resources.{index} ({label}): {message}",
                    transient=False,
                )
            continue
        lapsed = waivers.expired(label)
        if lapsed is not None:
            summary = f"{expired(lapsed)}; enforced: {summary}"
        status = ResourceStatus.CHANGED if changes else ResourceStatus.CONVERGED
        changed = changed or bool(changes)
        diff = ("".join(c.diff for c in changes if c.diff) or None) if dry_run else None
        outcomes.append(_outcome(spec, label, status, summary, diff))
    if broken:
        overall = OutcomeStatus.FAILED
    elif changed:
        overall = OutcomeStatus.DRIFTED if dry_run else OutcomeStatus.CHANGED
    else:
        overall = OutcomeStatus.CONVERGED
    return Convergence(overall, tuple(outcomes), first_error)


def _rejected(specs: Sequence[ResourceSpec], problems: dict[int, Exception]) -> Convergence:
    """Bad specs: report each problem on its resource; apply nothing."""
    outcomes = []
    lines = []
    for index, spec in enumerate(specs):
        label = _label(spec)
        problem = problems.get(index)
        if problem is None:
            outcomes.append(
                _outcome(
                    spec, label, ResourceStatus.SKIPPED, "not applied: the desired state has errors"
                )
            )
            continue
        where = f"resources.{index} ({label})"
        line = (
            f"{where}.{problem}"
            if isinstance(problem, SpecError)
            else f"{where}: {_first_line(problem)}"
        )
        lines.append(line)
        outcomes.append(_outcome(spec, label, ResourceStatus.FAILED, line))
    first = next(iter(problems.values()))
    kind = "ContractError" if isinstance(first, SpecError) else type(first).__name__
    error = ErrorInfo(type=kind, message="\n".join(lines), transient=False)
    return Convergence(OutcomeStatus.FAILED, tuple(outcomes), error)


def _stopped(
    specs: Sequence[ResourceSpec], status: OutcomeStatus, reason: str, error: ErrorInfo
) -> Convergence:
    """Nothing was applied: every resource is skipped with the same reason."""
    outcomes = tuple(_outcome(spec, _label(spec), ResourceStatus.SKIPPED, reason) for spec in specs)
    return Convergence(status, outcomes, error)


def _outcome(
    spec: ResourceSpec,
    label: str,
    status: ResourceStatus,
    summary: str,
    diff: str | None = None,
) -> ResourceOutcome:
    return ResourceOutcome(kind=spec.kind, path=label, status=status, summary=summary, diff=diff)


def _label(spec: ResourceSpec) -> str:
    """How outcomes name a resource: its path (a command: its name or command line)."""
    return spec.key if spec.kind == "command" else spec.path


def _error(exc: ProvisioningError) -> ErrorInfo:
    transient = bool(getattr(exc, "transient", False))
    return ErrorInfo(type=type(exc).__name__, message=str(exc), transient=transient)


def _first_line(exc: BaseException) -> str:
    """The message's first line, without the path the outcome already names.

    Our own errors speak for themselves; anything else is prefixed with its class name.
    """
    text = exc.reason if isinstance(exc, PathError) else str(exc).strip()
    first = (text or type(exc).__name__).splitlines()[0]
    return first if isinstance(exc, ProvisioningError) else f"{type(exc).__name__}: {first}"
