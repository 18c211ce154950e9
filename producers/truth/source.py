"""Loading a source-of-truth directory: every file validated, then checked as a whole.

The directory is refused as a whole, with every problem listed by file and field, when:

- a file does not parse or breaks its model (`inventory.yaml` → Inventory, `roles/*.yaml` →
  RoleFile, `environments/*.yaml` → EnvironmentFile, `waivers.yaml` → WaiversFile);
- target ids repeat, or a target names a role with no `roles/<name>.yaml`, or a role twice;
- `environments/<name>.yaml` is for an environment no target in the inventory uses
  (most often a typo: `prd.yaml`); an environment without a file simply has no overlay;
- one file declares the same resource identity twice, or two roles of a target do;
- a template does not parse, or a target's rendered state breaks DesiredState
  (e.g. `requires` pointing at a later resource after an overlay replaced one);
- a waiver lacks owner, reason or expiry, repeats another's selector and resource, names
  unknown targets, selects no target, or covers a resource no selected target has.

Gaps filled the way Puppet and Salt users expect: `inventory.yaml` is required; `roles/`,
`environments/` and `waivers.yaml` may be absent (nothing declared). Only `*.yaml` files
are read in `roles/` and `environments/`; any other visible file there is an error rather
than silently ignored. Other files in the directory (README, .git) are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from contracts import ContractError
from contracts.files import read_document
from contracts.inventory import Inventory
from contracts.state import DesiredState
from contracts.targets import Target
from contracts.truth import (
    EnvironmentFile,
    RoleFile,
    SourceBundle,
    WaiversFile,
    resource_id,
)
from producers.truth.errors import Problem, SourceInvalid
from producers.truth.render import RenderConflict, resources_for

INVENTORY = "inventory.yaml"
ROLES = "roles"
ENVIRONMENTS = "environments"
WAIVERS = "waivers.yaml"


def _problems_of(error: ContractError, file: str) -> list[Problem]:
    return [Problem(file, path, reason) for path, reason in error.problems]


def _read(root: Path, rel: str, model: type[BaseModel], problems: list[Problem]) -> Any:
    """Validate one file as `model`; on failure note its problems and return None."""
    try:
        data = read_document(root / rel)
    except ContractError as exc:
        problems.extend(_problems_of(exc, rel))
        return None
    if data is None:
        data = {}  # an empty file declares nothing
    if not isinstance(data, dict):
        problems.append(Problem(rel, "", "expected a mapping at the top level"))
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        found = _problems_of(ContractError.from_validation(rel, exc), rel)
        if model is Inventory:
            found = _precise_duplicates(data, found, rel)
        problems.extend(found)
        return None


def _precise_duplicates(data: dict[str, Any], found: list[Problem], rel: str) -> list[Problem]:
    """Replace Inventory's one-line duplicate message by one problem per repeated id."""
    if not any(p.reason.startswith("duplicate target ids") for p in found):
        return found
    precise = [p for p in found if not p.reason.startswith("duplicate target ids")]
    first: dict[Any, int] = {}
    for index, item in enumerate(data.get("targets") or []):
        ident = item.get("id") if isinstance(item, dict) else None
        if ident in first:
            precise.append(
                Problem(
                    rel,
                    f"targets.{index}.id",
                    f"duplicate target id {ident!r} (first at targets.{first[ident]})",
                )
            )
        elif ident is not None:
            first[ident] = index
    return precise


def _read_folder(
    root: Path, folder: str, model: type[BaseModel], problems: list[Problem], broken: set[str]
) -> dict[str, Any]:
    """`<folder>/<name>.yaml` → model, by name; other visible files are problems."""
    found: dict[str, Any] = {}
    directory = root / folder
    if not directory.is_dir():
        return found
    for path in sorted(directory.iterdir()):
        rel = f"{folder}/{path.name}"
        if path.name.startswith("."):
            continue
        if path.suffix != ".yaml" or not path.is_file():
            problems.append(Problem(rel, "", "not a .yaml file; rename it or move it out"))
            continue
        loaded = _read(root, rel, model, problems)
        if loaded is None:
            broken.add(path.stem)
        else:
            found[path.stem] = loaded
    return found


def _raw_targets(path: Path) -> list[Any]:
    try:
        data = read_document(path)
    except ContractError:
        return []
    targets = data.get("targets") if isinstance(data, dict) else None
    return targets if isinstance(targets, list) else []


def _partial_inventory(path: Path) -> tuple[Inventory, dict[str, int]]:
    """The valid, first-seen targets of an inventory that failed, and their positions in
    the file, so the other checks still run and every problem is listed at once."""
    targets: dict[str, Target] = {}
    positions: dict[str, int] = {}
    for index, item in enumerate(_raw_targets(path)):
        try:
            target = Target.model_validate(item)
        except ValidationError:
            continue
        if target.id not in targets:
            targets[target.id], positions[target.id] = target, index
    return Inventory(targets=tuple(targets.values())), positions


def _environments_in(path: Path) -> set[str]:
    """Environment names the raw inventory mentions, valid targets or not."""
    return {
        item["environment"]
        for item in _raw_targets(path)
        if isinstance(item, dict) and isinstance(item.get("environment"), str)
    }


def load(directory: Path) -> SourceBundle:
    """Read, validate and check a whole directory. Raises SourceInvalid listing every problem."""
    problems: list[Problem] = []
    root = str(directory)
    if not directory.is_dir():
        raise SourceInvalid(root, [Problem(".", "", "not a directory")])
    partial = False
    positions: dict[str, int] | None = None
    if not (directory / INVENTORY).is_file():
        problems.append(Problem(INVENTORY, "", "missing: every source of truth has one"))
        inventory = None
    else:
        inventory = _read(directory, INVENTORY, Inventory, problems)
        if inventory is None:
            inventory, positions = _partial_inventory(directory / INVENTORY)
            partial = True
    broken_roles: set[str] = set()
    broken_envs: set[str] = set()
    roles = _read_folder(directory, ROLES, RoleFile, problems, broken_roles)
    environments = _read_folder(directory, ENVIRONMENTS, EnvironmentFile, problems, broken_envs)
    waivers_file = None
    if (directory / WAIVERS).is_file():
        waivers_file = _read(directory, WAIVERS, WaiversFile, problems)
    if inventory is None:
        raise SourceInvalid(root, problems)
    waivers_ok = waivers_file is not None or not (directory / WAIVERS).is_file()
    bundle = SourceBundle(
        inventory=inventory,
        roles=roles,
        environments=environments,
        waivers=waivers_file.waivers if waivers_file is not None else (),
    )
    problems += check(
        bundle,
        broken_roles=broken_roles,
        broken_envs=broken_envs,
        check_waivers=waivers_ok and not partial,
        environments_in_use=_environments_in(directory / INVENTORY) if partial else None,
        positions=positions,
    )
    if problems:
        raise SourceInvalid(root, problems)
    return bundle


def validate(bundle: SourceBundle, root: str = "") -> SourceBundle:
    """Check a bundle built in memory (e.g. by `waiver add`). Raises SourceInvalid."""
    problems = check(bundle)
    if problems:
        raise SourceInvalid(root, problems)
    return bundle


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
