"""Rendering: bundle + target id → the RenderedState that target gets. Pure and deterministic.

Order is part of the contract, so it is spelled out:

1. the roles in the order the target lists them, each role's resources in file order;
2. the target's environment overlay: a resource with the identity of a role resource
   replaces it in place (only on targets that have it); a resource whose identity no role
   declares is appended, in overlay order, to every target of the environment;
3. the layers pushed inline by change events, oldest first, for the targets each chose:
   same identity replaces in place, anything new is appended;
4. `values` are the environment's values; waivers are those, in file order, whose selector
   picks the target and whose resource the target has (expired ones included).

Two roles of one target declaring the same identity is an error, as a duplicate
declaration is in Puppet: the source of truth must say which one wins, by overlay.
`render_bytes` is `canonical_bytes(render(...))`: the only serialisation push and pull use.
"""

from __future__ import annotations

from typing import Any

from contracts import ContractError, limits
from contracts.state import DesiredState
from contracts.targets import Target
from contracts.truth import RenderedState, SourceBundle, canonical_bytes, resource_id
from producers.truth.errors import UnknownTarget


class RenderConflict(ValueError):
    """Two roles of one target declare the same resource."""


def role_identities(bundle: SourceBundle) -> set[str]:
    """Every resource identity some role declares."""
    return {resource_id(spec) for role in bundle.roles.values() for spec in role.resources}


def resources_for(bundle: SourceBundle, target: Target) -> tuple[Any, ...]:
    """The ordered resources of one target, overlay applied. Raises RenderConflict."""
    declared_by: dict[str, str] = {}
    base: list[Any] = []
    for role in target.roles:
        for spec in bundle.roles[role].resources:
            ident = resource_id(spec)
            if ident in declared_by:
                raise RenderConflict(
                    f"{ident!r} is declared by role {declared_by[ident]!r} and role {role!r}; "
                    "keep it in one role (an environment overlay may replace it)"
                )
            declared_by[ident] = role
            base.append(spec)
    overlay = bundle.environments.get(target.environment)
    if overlay is not None:
        from_roles = role_identities(bundle)
        replacements = {
            resource_id(s): s for s in overlay.resources if resource_id(s) in from_roles
        }
        additions = [s for s in overlay.resources if resource_id(s) not in from_roles]
        base = [replacements.get(resource_id(s), s) for s in base] + additions
    for layer in bundle.layers:
        if target.id in layer.targets:
            base = _layered(base, layer.resources)
    return tuple(base)


def _layered(base: list[Any], pushed: tuple[Any, ...]) -> list[Any]:
    """A layer's resources replace those of the same identity in place; the rest append."""
    by_id = {resource_id(s): s for s in pushed}
    result = [by_id.pop(resource_id(s), s) for s in base]
    return result + [s for s in pushed if resource_id(s) in by_id]


def render(bundle: SourceBundle, target_id: str, revision: int) -> RenderedState:
    """What `target_id` gets at `revision`. Raises UnknownTarget, RenderConflict, ValueError."""
    target = bundle.target(target_id)
    if target is None:
        known = ", ".join(sorted(t.id for t in bundle.inventory.targets)) or "none"
        raise UnknownTarget(f"no target {target_id!r} at revision {revision} (targets: {known})")
    resources = resources_for(bundle, target)
    desired = DesiredState(resources=resources)
    idents = {resource_id(spec) for spec in resources}
    overlay = bundle.environments.get(target.environment)
    return RenderedState(
        revision=revision,
        target=target.id,
        desired=desired,
        values=dict(overlay.values) if overlay else {},
        waivers=tuple(w for w in bundle.waivers if w.applies_to(target) and w.resource in idents),
    )


def render_bytes(bundle: SourceBundle, target_id: str, revision: int) -> bytes:
    """The canonical JSON bytes of `render(...)`: identical in every call and process."""
    return canonical_bytes(render(bundle, target_id, revision))


def render_all(bundle: SourceBundle, revision: int) -> dict[str, bytes]:
    """Target id → canonical bytes, for every target in the inventory."""
    rendered = {t.id: render_bytes(bundle, t.id, revision) for t in bundle.inventory.targets}
    for target_id, data in rendered.items():
        if len(data) > limits.STATE_BYTES:  # it could never be delivered, push or pull
            bound = f"{limits.limit('STATE_BYTES').env}={limits.STATE_BYTES}"
            reason = f"rendered state of {len(data)} bytes exceeds the limit {bound}"
            raise ContractError("source of truth", [(f"targets.{target_id}", reason)])
    return rendered
