"""Confinement: hostile specs are rejected before any change, and nothing outside the root moves."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from contracts import DesiredState, OutcomeStatus, ResourceStatus
from tests.workers.engine.conftest import tree_hash
from workers.engine.convergence import Convergence


@pytest.mark.parametrize(
    "resource",
    [
        {"kind": "file", "path": "/../outside/secret", "content": "pwned"},
        {"kind": "file", "path": "etc/../../outside/secret", "content": "pwned"},
        {"kind": "absent", "path": "/.."},
        {"kind": "line", "path": "../outside/secret", "line": "pwned"},
        {"kind": "command", "argv": ["true"], "creates": "/../x"},
    ],
)
def test_dot_dot_is_rejected_by_the_contract(resource: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match=r"\.\."):
        DesiredState.model_validate({"resources": [resource]})


@pytest.mark.parametrize(
    "resource",
    [
        {"kind": "file", "path": "/etc/motd\x00.txt", "content": "x"},
        {"kind": "symlink", "path": "/l", "destination": "a\x00b"},
        {"kind": "command", "argv": ["echo", "a\x00b"]},
    ],
)
def test_nul_bytes_are_rejected_by_the_contract(resource: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="NUL"):
        DesiredState.model_validate({"resources": [resource]})


@pytest.mark.parametrize(
    "resource",
    [
        {"kind": "file", "path": "/escape/secret", "content": "pwned"},
        {"kind": "file", "path": "/link-to-secret", "content": "pwned"},
        {"kind": "line", "path": "/link-to-secret", "line": "pwned", "create": True},
        {"kind": "directory", "path": "/escape/new", "mode": "0777"},
        {"kind": "absent", "path": "/escape/secret"},
        {"kind": "symlink", "path": "/escape/new-link", "destination": "x"},
        {"kind": "symlink", "path": "/planned", "destination": "../outside"},
        {"kind": "symlink", "path": "/planned", "destination": "/etc/passwd"},
        {"kind": "symlink", "path": "/deep/planned", "destination": "../../outside/secret"},
        {"kind": "command", "argv": ["touch", "pwned"], "path": "/escape"},
        {"kind": "command", "argv": ["true"], "creates": "/escape/secret"},
    ],
)
def test_links_to_host_paths_are_read_inside_the_root_and_nothing_outside_moves(
    root: Path, outside: Path, run: Callable[..., Convergence], resource: dict[str, Any]
) -> None:
    """A link's absolute destination means the target's `/`: host paths never leak out."""
    (root / "escape").symlink_to(outside)
    (root / "link-to-secret").symlink_to(outside / "secret")
    before_outside = tree_hash(outside)

    result = run({"kind": "file", "path": "/innocent", "content": "x"}, resource)

    assert result.status in (OutcomeStatus.CHANGED, OutcomeStatus.FAILED), result
    if result.error is not None:  # e.g. the command's directory does not exist in the root
        assert result.error.type in ("ResourceError", "CommandFailed"), result.error
        assert str(root) not in result.error.message
    assert tree_hash(outside) == before_outside
    assert (outside / "secret").read_text() == "keep\n"


def test_prefix_sibling_is_outside(root: Path, run: Callable[..., Convergence]) -> None:
    sibling = root.parent / (root.name + "-evil")
    sibling.mkdir()
    (root / "s").symlink_to(sibling)
    result = run({"kind": "file", "path": "/s/f", "content": "x"})
    assert result.status == OutcomeStatus.CHANGED, result
    assert list(sibling.iterdir()) == []
    assert (root / str(sibling).lstrip("/") / "f").read_text() == "x"


def test_symlinks_that_stay_inside_are_followed(
    root: Path, run: Callable[..., Convergence]
) -> None:
    (root / "real").mkdir()
    (root / "alias").symlink_to("real")
    (root / "abs").symlink_to("/real")
    result = run(
        {"kind": "file", "path": "/alias/a", "content": "1"},
        {"kind": "file", "path": "/abs/b", "content": "2"},
    )
    assert result.status == OutcomeStatus.CHANGED, result
    assert sorted(p.name for p in (root / "real").iterdir()) == ["a", "b"]


@pytest.mark.parametrize(
    "value",
    ["; touch pwned", "$(touch pwned)", "`touch pwned`", "x && touch pwned", "-rf"],
)
def test_shell_metacharacters_in_values_never_reach_a_shell(
    root: Path, run: Callable[..., Convergence], value: str
) -> None:
    result = run(
        {"kind": "file", "path": f"/dir/{value}", "content": value},
        {"kind": "command", "argv": ["printf", "%s", value], "creates": f"/{value}-done"},
        {"kind": "command", "argv": ["test", "-n", value], "unless": ["test", "-z", value]},
    )
    assert result.status == OutcomeStatus.CHANGED, result
    assert (root / "dir" / value).read_text() == value
    assert not (root / "pwned").exists()
    assert not Path("pwned").exists()


def test_shell_only_when_written_explicitly(root: Path, run: Callable[..., Convergence]) -> None:
    literal = run({"kind": "command", "argv": ["echo hi > shell-out"]})
    assert literal.resources[0].status == ResourceStatus.FAILED
    assert not (root / "shell-out").exists()
    shell = run({"kind": "command", "argv": ["echo hi > shell-out"], "shell": True})
    assert shell.resources[0].status == ResourceStatus.CHANGED
    assert (root / "shell-out").read_text() == "hi\n"


def test_the_root_itself_cannot_be_removed_or_replaced(
    root: Path, run: Callable[..., Convergence]
) -> None:
    (root / "keep").write_text("x")
    for resource in (
        {"kind": "absent", "path": "/"},
        {"kind": "file", "path": "/", "content": "x"},
        {"kind": "symlink", "path": "/", "destination": "keep"},
    ):
        result = run(resource)
        assert result.status == OutcomeStatus.FAILED
        assert result.error is not None and result.error.type == "ContractError"
    assert (root / "keep").read_text() == "x"


def test_dry_run_changes_nothing(root: Path, run: Callable[..., Convergence]) -> None:
    (root / "etc").mkdir()
    (root / "etc/conf").write_text("port=1\n")
    (root / "gone").write_text("x")
    os.chmod(root / "etc/conf", 0o600)
    before = tree_hash(root)
    result = run(
        {"kind": "directory", "path": "/srv/app", "mode": "0700"},
        {"kind": "file", "path": "/etc/conf", "content": "port=2\n", "mode": "0644"},
        {"kind": "file", "path": "/etc/secret", "content": "hunter2\n", "sensitive": True},
        {"kind": "symlink", "path": "/conf", "destination": "etc/conf"},
        {"kind": "absent", "path": "/gone"},
        {"kind": "line", "path": "/etc/conf", "line": "name=x"},
        {"kind": "command", "argv": ["touch", "ran"]},
        dry_run=True,
    )
    assert tree_hash(root) == before
    assert result.status == OutcomeStatus.DRIFTED
    assert [r.status for r in result.resources] == [ResourceStatus.CHANGED] * 7
    diff = result.resources[1].diff
    assert diff is not None and "-port=1" in diff and "+port=2" in diff
    assert result.resources[2].diff is None
    assert all("hunter2" not in (r.diff or "") + r.summary for r in result.resources)


def test_dry_run_of_a_converged_root_is_converged(
    root: Path, run: Callable[..., Convergence]
) -> None:
    resource = {"kind": "file", "path": "/f", "content": "x"}
    run(resource)
    result = run(resource, dry_run=True)
    assert result.status == OutcomeStatus.CONVERGED
    assert result.resources[0].diff is None
