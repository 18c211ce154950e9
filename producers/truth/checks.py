"""Cross-file checks of a source bundle: what no single file's model can see.

- target ids repeat (reported by the loader, per id), a target names an unknown role or
  one role twice;
- `environments/<name>.yaml` is for an environment no target uses (most often a typo);
- one file declares a resource identity twice, or two roles of one target do;
- a template does not parse, or a rendered state breaks DesiredState;
- a waiver repeats another's selector and resource, names unknown targets, selects no
  target, or covers a resource no selected target has.

Used by `source.load` for a directory and by `waiver add|remove` for an edited bundle.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from contracts.state import DesiredState
from contracts.truth import SourceBundle, resource_id
from producers.truth.errors import Problem
from producers.truth.render import RenderConflict, resources_for

INVENTORY = "inventory.yaml"
ROLES = "roles"
ENVIRONMENTS = "environments"
WAIVERS = "waivers.yaml"
ISSUERS = "issuers.yaml"


def check(
    bundle: SourceBundle,
    *,
    broken_roles: Iterable[str] = (),
    broken_envs: Iterable[str] = (),
    check_waivers: bool = True,
    environments_in_use: set[str] | None = None,
    positions: dict[str, int] | None = None,
) -> list[Problem]:
    """Every cross-file problem of a bundle whose files are each valid on their own.

    Files that did not load (`broken_*`) or hold a problem are not rendered, so one bad
    file is reported once, not again for every target that uses it.
    """
    broken_roles, broken_envs = set(broken_roles), set(broken_envs)
    unknown_envs = _environment_names(bundle, broken_envs, environments_in_use)
    problems: list[Problem] = []
    for name, role in sorted(bundle.roles.items()):
        problems += _duplicates(f"{ROLES}/{name}.yaml", role.resources)
        problems += _templates(f"{ROLES}/{name}.yaml", role.resources)
    for name, env in sorted(bundle.environments.items()):
        problems += _duplicates(f"{ENVIRONMENTS}/{name}.yaml", env.resources)
        problems += _templates(f"{ENVIRONMENTS}/{name}.yaml", env.resources)
    dirty = {p.file for p in problems}
    broken_roles |= {n for n in bundle.roles if f"{ROLES}/{n}.yaml" in dirty}
    broken_envs |= {n for n in bundle.environments if f"{ENVIRONMENTS}/{n}.yaml" in dirty}
    problems = unknown_envs + problems + _targets(bundle, broken_roles, broken_envs, positions)
    if check_waivers and not broken_roles and not broken_envs:  # waivers need every render
        problems += _waivers(bundle)
    return problems


def _environment_names(
    bundle: SourceBundle, broken: set[str], in_use: set[str] | None
) -> list[Problem]:
    used = sorted(
        in_use if in_use is not None else {t.environment for t in bundle.inventory.targets}
    )
    return [
        Problem(
            f"{ENVIRONMENTS}/{name}.yaml",
            "",
            f"overlay for unknown environment {name!r}: no target in {INVENTORY} uses it "
            f"(environments in use: {', '.join(used) or 'none'})",
        )
        for name in sorted({*bundle.environments, *broken})
        if name not in used
    ]


def _duplicates(rel: str, resources: tuple[Any, ...]) -> list[Problem]:
    first: dict[str, int] = {}
    problems = []
    for index, spec in enumerate(resources):
        ident = resource_id(spec)
        if ident in first:
            problems.append(
                Problem(
                    rel,
                    f"resources.{index}",
                    f"duplicate resource {ident!r} (first at resources.{first[ident]})",
                )
            )
        else:
            first[ident] = index
    return problems


def _templates(rel: str, resources: tuple[Any, ...]) -> list[Problem]:
    """Template syntax is checked at publish, so a typo never reaches a worker."""
    problems = []
    for index, spec in enumerate(resources):
        template = getattr(spec, "template", None)
        if template is None:
            continue
        import jinja2

        try:
            jinja2.Environment().parse(template)
        except jinja2.TemplateSyntaxError as exc:
            problems.append(
                Problem(
                    rel,
                    f"resources.{index}.template",
                    f"syntax error at line {exc.lineno}: {exc.message}",
                )
            )
    return problems


def _targets(
    bundle: SourceBundle,
    broken_roles: set[str],
    broken_envs: set[str],
    positions: dict[str, int] | None,
) -> list[Problem]:
    """Unknown or repeated roles per target; then each renderable target is rendered.

    An overlay resource replaces or adds depending on what all roles declare, so with any
    role file broken no target is rendered (it would report a false addition).
    """
    problems: list[Problem] = []
    known = ", ".join(sorted({*bundle.roles, *broken_roles})) or "none"
    for number, target in enumerate(bundle.inventory.targets):
        index = positions.get(target.id, number) if positions is not None else number
        renderable = not broken_roles and target.environment not in broken_envs
        seen: set[str] = set()
        for position, role in enumerate(target.roles):
            field = f"targets.{index}.roles.{position}"
            if role in broken_roles:
                renderable = False
            elif role not in bundle.roles:
                renderable = False
                problems.append(
                    Problem(
                        INVENTORY,
                        field,
                        f"unknown role {role!r} for target {target.id!r}: "
                        f"no {ROLES}/{role}.yaml (roles: {known})",
                    )
                )
            elif role in seen:
                renderable = False
                problems.append(Problem(INVENTORY, field, f"role {role!r} is listed twice"))
            seen.add(role)
        if not renderable:
            continue
        try:
            DesiredState(resources=resources_for(bundle, target))
        except (RenderConflict, ValidationError) as exc:
            reason = (
                "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
                if isinstance(exc, ValidationError)
                else str(exc)
            )
            problems.append(
                Problem(INVENTORY, f"targets.{index}.roles", f"target {target.id!r}: {reason}")
            )
    return problems


def _waivers(bundle: SourceBundle) -> list[Problem]:
    problems: list[Problem] = []
    targets = bundle.inventory.targets
    ids = {t.id for t in targets}
    first: dict[str, int] = {}
    for index, waiver in enumerate(bundle.waivers):
        field = f"waivers.{index}"
        if waiver.id in first:
            problems.append(
                Problem(
                    WAIVERS,
                    field,
                    f"same selector and resource as waivers.{first[waiver.id]}; "
                    "keep one (change its expiry there)",
                )
            )
            continue
        first[waiver.id] = index
        unknown = sorted(set(waiver.selector.targets or ()) - ids)
        if unknown:
            problems.append(
                Problem(
                    WAIVERS, f"{field}.selector.targets", f"unknown targets: {', '.join(unknown)}"
                )
            )
            continue
        chosen = [t for t in targets if waiver.applies_to(t)]
        if not chosen:
            problems.append(
                Problem(
                    WAIVERS,
                    f"{field}.selector",
                    f"selector {waiver.selector.describe()} matches no target",
                )
            )
            continue
        if not any(_declares(bundle, t, waiver.resource) for t in chosen):
            problems.append(
                Problem(
                    WAIVERS,
                    f"{field}.resource",
                    f"no target the selector matches has resource {waiver.resource!r}",
                )
            )
    return problems


def _declares(bundle: SourceBundle, target: Any, ident: str) -> bool:
    try:
        return any(resource_id(s) == ident for s in resources_for(bundle, target))
    except (RenderConflict, KeyError):
        return False
