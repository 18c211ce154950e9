"""Fixtures for the engine suite: a temporary root, a target for it, and a tree hash."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from contracts import DesiredState, Target
from workers.engine.convergence import Convergence, converge


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An empty directory converged as if it were `/`, beside a sibling that must stay put."""
    path = tmp_path / "root"
    path.mkdir()
    return path


@pytest.fixture
def outside(root: Path) -> Path:
    """The root's sibling, with a file that hostile specs aim at: it must never change."""
    path = root.parent / "outside"
    path.mkdir()
    (path / "secret").write_text("keep\n")
    return path


@pytest.fixture
def target(root: Path) -> Target:
    return Target(
        id="web-1",
        region="eu",
        environment="dev",
        labels={"role": "web"},
        address=f"local://{root}",
    )


@pytest.fixture
def run(target: Target) -> Callable[..., Convergence]:
    """Converge `target` to the given resources (dicts, as in a state file)."""

    def converge_to(
        *resources: dict[str, Any], dry_run: bool = False, checks: tuple[dict[str, Any], ...] = ()
    ) -> Convergence:
        desired = DesiredState.model_validate({"resources": resources, "checks": checks})
        return converge(target, desired, dry_run=dry_run)

    return converge_to


def tree_hash(path: Path) -> str:
    """A hash of every name, kind, mode, link text and content under `path`."""
    digest = hashlib.sha256()
    for top, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted([*dirs, *files]):
            entry = Path(top, name)
            seen = entry.lstat()
            digest.update(f"{entry.relative_to(path)}|{seen.st_mode}|{seen.st_uid}\n".encode())
            if entry.is_symlink():
                digest.update(os.readlink(entry).encode())
            elif entry.is_file():
                digest.update(entry.read_bytes())
    return digest.hexdigest()


@pytest.fixture(params=["openat2", "walk"])
def resolution(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with the kernel's openat2, then with the component walk alone."""
    from workers.engine.hosts import openat2

    if request.param == "openat2" and not openat2.AVAILABLE:
        pytest.skip("this kernel has no openat2")
    monkeypatch.setattr(openat2, "AVAILABLE", request.param == "openat2")
    return str(request.param)
