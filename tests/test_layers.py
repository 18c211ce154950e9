"""The import direction is the architecture: a test fails on any import that runs back up.

Data-driven: `PACKAGES` says which of our top-level packages each one may import, and
`LAYERS` orders the units inside a plane (an import may only go to a lower layer or stay in
its own unit). Finer layering after a move is a table edit, not new code.
"""

from __future__ import annotations

import ast
import collections
from pathlib import Path

from tests.isolation import ROOT

#: Our top-level packages and which of ours each may import (itself always).
PACKAGES: dict[str, set[str]] = {
    "contracts": set(),
    "broker_config": {"contracts"},
    "producers": {"contracts", "broker_config"},
    "workers": {"contracts", "broker_config"},
}
#: Inside a plane, units in layer order (lowest first); siblings in one layer never import
#: each other. Empty until the plane is split into stage folders (issue 12): then e.g.
#: "producers": [["errors"], ["store", "messaging", "processes"], ["truth"], ...].
LAYERS: dict[str, list[list[str]]] = {
    "producers": [],
    "workers": [],
}
#: Packages whose classes must not share a name (one concept, one name).
NAMED = ["contracts", "broker_config", "producers", "workers", "bench", "tests"]


def imports(path: Path) -> list[str]:
    """Every module name `path` imports (absolute imports; ours are all absolute)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def module_of(path: Path, root: Path) -> str:
    return ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")


def unit(plane: str, dotted: str) -> str | None:
    """The layer unit a module belongs to: the longest unit name that prefixes it."""
    rest = dotted.split(".")[1:]
    names = [name for layer in LAYERS[plane] for name in layer]
    for name in sorted(names, key=lambda n: -n.count(".")):
        if rest[: name.count(".") + 1] == name.split("."):
            return name
    return None


def rank(plane: str, name: str) -> int:
    return next(i for i, layer in enumerate(LAYERS[plane]) if name in layer)


def package_problems(root: Path = ROOT) -> list[str]:
    problems = []
    for package, allowed in PACKAGES.items():
        for path in sorted((root / package).rglob("*.py")):
            mod = module_of(path, root)
            for name in imports(path):
                top = name.split(".")[0]
                if top in PACKAGES and top != package and top not in allowed:
                    problems.append(f"{mod} imports {name}: {package} may not import {top}")
    return problems


def layer_problems(root: Path = ROOT) -> list[str]:
    problems = []
    for plane, layers in LAYERS.items():
        if not layers:
            continue
        for path in sorted((root / plane).rglob("*.py")):
            mod = module_of(path, root)
            me = unit(plane, mod)
            if me is None:
                if mod != plane:
                    problems.append(f"{mod}: in no layer; add it to LAYERS")
                continue
            for name in imports(path):
                other = unit(plane, name) if name.startswith(plane + ".") else None
                if other and other != me and rank(plane, other) >= rank(plane, me):
                    problems.append(f"{mod} imports {name}: {me} may not import {other}")
    return problems


def test_each_package_imports_only_the_packages_below_it() -> None:
    problems = package_problems()
    assert not problems, "\n".join(problems)


def test_inside_a_plane_imports_run_down_the_layers() -> None:
    problems = layer_problems()
    assert not problems, "\n".join(problems)


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    """The checker itself can fail: a planted contracts -> producers import is reported."""
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "contracts" / "bad.py").write_text("from producers.x import y\n")
    (tmp_path / "workers" / "bad.py").write_text("import producers\n")
    assert package_problems(tmp_path) == [
        "contracts.bad imports producers.x: contracts may not import producers",
        "workers.bad imports producers: workers may not import producers",
    ]


def test_no_two_classes_share_a_name() -> None:
    seen: dict[str, list[str]] = collections.defaultdict(list)
    for package in NAMED:
        for path in sorted((ROOT / package).rglob("*.py")):
            if any(part.startswith(".") for part in path.relative_to(ROOT).parts):
                continue  # not ours: e.g. bench/.peers/venv, which --install-peers makes
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ClassDef):
                    seen[node.name].append(f"{path.relative_to(ROOT)}:{node.lineno}")
    shared = {name: where for name, where in seen.items() if len(where) > 1}
    assert not shared, "\n".join(f"{name}: {' | '.join(w)}" for name, w in sorted(shared.items()))
