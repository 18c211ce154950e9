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
- `issuers.yaml` breaks IssuersFile (a key that is not Ed25519 PEM, a name or key id
  listed twice, a scope field of the wrong kind);
- a waiver lacks owner, reason or expiry, repeats another's selector and resource, names
  unknown targets, selects no target, or covers a resource no selected target has.

Gaps filled the way Puppet and Salt users expect: `inventory.yaml` is required; `roles/`,
`environments/`, `waivers.yaml` and `issuers.yaml` may be absent (nothing declared). Only
`*.yaml` files are read in `roles/` and `environments/`; any other visible file there is an
error rather than silently ignored. Other files in the directory (README, .git) are ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from contracts import ContractError
from contracts.documents import read_document
from contracts.inventory import Inventory
from contracts.issuers import IssuersFile
from contracts.targets import Target
from contracts.truth import (
    EnvironmentFile,
    RoleFile,
    SourceBundle,
    WaiversFile,
)
from producers.truth.checks import ENVIRONMENTS, INVENTORY, ISSUERS, ROLES, WAIVERS, check
from producers.truth.errors import Problem, SourceInvalid


def _problems_of(error: ContractError, file: str) -> list[Problem]:
    return [Problem(file, path, reason) for path, reason in error.problems]


def _read(root: Path, rel: str, model: type[BaseModel], problems: list[Problem]) -> Any:
    """Validate one file as `model`; on failure note its problems and return None."""
    if not (root / rel).resolve().is_relative_to(root.resolve()):
        problems.append(Problem(rel, "", "a link leading outside the source directory"))
        return None
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
    issuers_file = None
    if (directory / ISSUERS).is_file():
        issuers_file = _read(directory, ISSUERS, IssuersFile, problems)
    if inventory is None:
        raise SourceInvalid(root, problems)
    waivers_ok = waivers_file is not None or not (directory / WAIVERS).is_file()
    bundle = SourceBundle(
        inventory=inventory,
        roles=roles,
        environments=environments,
        waivers=waivers_file.waivers if waivers_file is not None else (),
        issuers=issuers_file.issuers if issuers_file is not None else (),
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
