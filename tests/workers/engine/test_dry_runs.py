"""Dry runs never leak (issue 11 item 4): guards and readiness report exit status only,
diffs only for small text files, and the plan follows what earlier resources would leave.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from contracts import OutcomeStatus, ResourceStatus
from contracts.engine_limits import DIFF_BYTES
from tests.workers.engine.conftest import tree_hash
from workers.engine.convergence import Convergence


def _shown(result: Convergence) -> str:
    text = " ".join(f"{r.summary} {r.diff or ''}" for r in result.resources)
    return text + (result.error.message if result.error else "")


def test_guard_output_never_reaches_the_outcome(
    root: Path, run: Callable[..., Convergence]
) -> None:
    (root / "shadow").write_text("root:hunter2:19000\n")
    before = tree_hash(root)
    for dry_run in (True, False):
        result = run(
            {
                "kind": "command",
                "argv": ["touch", "x"],
                "onlyif": ["sh", "-c", "cat shadow; exit 1"],
            },
            {"kind": "command", "argv": ["true"], "onlyif": ["sh", "-c", "cat shadow >&2; false"]},
            dry_run=dry_run,
        )
        assert [r.summary for r in result.resources] == ["not run: onlyif exited 1"] * 2
        assert "hunter2" not in _shown(result)
    assert tree_hash(root) == before


def test_readiness_command_output_never_reaches_the_outcome(
    root: Path, run: Callable[..., Convergence]
) -> None:
    (root / "shadow").write_text("root:hunter2:19000\n")
    before = tree_hash(root)
    check = {"kind": "command", "argv": ["sh", "-c", "cat shadow; exit 4"]}
    result = run({"kind": "file", "path": "/f", "content": "x"}, checks=(check,), dry_run=True)
    assert result.status == OutcomeStatus.NOT_READY
    assert result.error is not None and "exited 4" in result.error.message
    assert "hunter2" not in _shown(result)
    assert tree_hash(root) == before


def test_diffs_only_for_small_text_files(root: Path, run: Callable[..., Convergence]) -> None:
    (root / "big").write_text("secret line\n" * (DIFF_BYTES // 10))
    (root / "blob").write_bytes(b"\x00secret\x00\n")
    before = tree_hash(root)
    result = run(
        {"kind": "file", "path": "/big", "content": "small\n"},
        {"kind": "file", "path": "/blob", "content": "text\n"},
        {"kind": "file", "path": "/small", "content": "shown\n"},
        dry_run=True,
    )
    diffs = [r.diff or "" for r in result.resources]
    assert "DIFF_BYTES" in diffs[0] and "secret" not in diffs[0]
    assert "binary" in diffs[1] and "secret" not in diffs[1]
    assert "+shown" in diffs[2]
    assert tree_hash(root) == before


def test_a_dry_run_plans_against_what_earlier_resources_would_leave(
    root: Path, run: Callable[..., Convergence]
) -> None:
    before = tree_hash(root)
    result = run(
        {"kind": "directory", "path": "/srv/app"},
        {"kind": "file", "path": "/srv/app/conf", "content": "x\n"},
        {"kind": "line", "path": "/srv/app/list", "line": "a", "create": True},
        {"kind": "file", "path": "/srv/app/empty", "mode": "0600"},
        dry_run=True,
    )
    assert result.status == OutcomeStatus.DRIFTED, result.error
    assert [r.status for r in result.resources] == [ResourceStatus.CHANGED] * 4
    assert result.resources[1].summary.startswith("none -> sha256:")  # a creation
    assert tree_hash(root) == before
