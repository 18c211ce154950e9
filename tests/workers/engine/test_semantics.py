"""File and line semantics (issue 11 item 5), each on a real tree, its sibling hashed too."""

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

pytestmark = pytest.mark.usefixtures("resolution")


def test_a_file_without_content_manages_metadata_only(
    root: Path, outside: Path, run: Callable[..., Convergence]
) -> None:
    before = tree_hash(outside)
    (root / "file").mkdir()
    (root / "file/baz.txt").write_text("keep me\n")
    result = run(
        {"kind": "file", "path": "/file/baz.txt", "mode": "0600"},
        {"kind": "file", "path": "/file/new.txt", "mode": "0640"},
    )
    assert result.status == OutcomeStatus.CHANGED
    assert (root / "file/baz.txt").read_text() == "keep me\n"
    assert (root / "file/baz.txt").stat().st_mode & 0o777 == 0o600
    assert (root / "file/new.txt").read_bytes() == b""
    assert (root / "file/new.txt").stat().st_mode & 0o777 == 0o640
    again = run({"kind": "file", "path": "/file/baz.txt", "mode": "0600"})
    assert again.status == OutcomeStatus.CONVERGED
    assert tree_hash(outside) == before


def test_line_with_create_creates_missing_parents(
    root: Path, outside: Path, run: Callable[..., Convergence]
) -> None:
    before = tree_hash(outside)
    spec = {"kind": "line", "path": "/etc/new/dir/conf", "line": "a=1", "create": True}
    assert run(spec, dry_run=True).status == OutcomeStatus.DRIFTED
    assert run(spec).status == OutcomeStatus.CHANGED
    assert (root / "etc/new/dir/conf").read_text() == "a=1\n"
    assert tree_hash(outside) == before


@pytest.mark.parametrize(
    ("text", "spec", "expected"),
    [
        ("a=1\fb=1\n", {"line": "b=2", "match": "^b="}, "a=1\fb=1\nb=2\n"),
        ("a=1\u2028b=1\nc\n", {"present": False, "line": "c"}, "a=1\u2028b=1\n"),
        ("x=1\r\ny=1\r\n", {"line": "x=2", "match": "^x="}, "x=2\r\ny=1\r\n"),
        ("a\n\nb=1\n\nb=2\n", {"present": False, "match": "^b="}, "a\n\n\n"),
        ("a\n\nb=1\n", {"present": False, "match": "^b=", "line": ""}, "a\n\n"),
        ("k=1\nk=2\n", {"line": "k=3", "match": "^k="}, "k=3\nk=3\n"),
        ("no newline", {"line": "x"}, "no newline\nx\n"),
    ],
)
def test_lines_split_on_newline_only(
    root: Path, run: Callable[..., Convergence], text: str, spec: dict[str, Any], expected: str
) -> None:
    (root / "conf").write_bytes(text.encode())
    result = run({"kind": "line", "path": "/conf", **spec})
    assert result.status == OutcomeStatus.CHANGED, result.error
    assert (root / "conf").read_bytes().decode() == expected


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"match": ""}, "match"),
        ({"present": False}, "line"),
        ({"present": True, "match": "^a"}, "line"),
    ],
)
def test_line_specs_that_would_surprise_are_refused(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        DesiredState.model_validate({"resources": [{"kind": "line", "path": "/f", **spec}]})


@pytest.mark.parametrize(
    "resource",
    [
        {"kind": "file", "path": "/plain/conf", "content": "x"},
        {"kind": "line", "path": "/plain/conf", "line": "x", "create": True},
        {"kind": "directory", "path": "/plain/dir"},
        {"kind": "symlink", "path": "/plain/link", "destination": "x"},
        {"kind": "absent", "path": "/plain/x/y"},
    ],
)
def test_failures_are_the_engines_own_errors_naming_the_path(
    root: Path, outside: Path, run: Callable[..., Convergence], resource: dict[str, Any]
) -> None:
    (root / "plain").write_text("a regular file\n")
    before_root, before_outside = tree_hash(root), tree_hash(outside)
    for dry_run in (True, False):
        result = run(resource, dry_run=dry_run)
        outcome = result.resources[0]
        assert outcome.status == ResourceStatus.FAILED, outcome
        assert result.error is not None and result.error.type == "ResourceError"
        assert "/plain is not a directory" in outcome.summary
        assert "NotADirectoryError" not in outcome.summary and ".provision" not in outcome.summary
        assert str(root) not in result.error.message
    assert tree_hash(root) == before_root and tree_hash(outside) == before_outside


def test_temporary_files_are_never_left_behind(root: Path, run: Callable[..., Convergence]) -> None:
    run(*({"kind": "file", "path": f"/d/f{i}", "content": str(i)} for i in range(20)))
    assert not [name for name in os.listdir(root / "d") if "provision" in name]
