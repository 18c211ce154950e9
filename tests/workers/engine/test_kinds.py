"""Symlink, absent, line and command resource types: diff tables, then apply and rerun."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from contracts import OutcomeStatus, ResourceStatus
from workers.engine.convergence import Convergence
from workers.engine.resources import ResourceError
from workers.engine.resources.absent import Absent, DesiredAbsence, ObservedAbsence
from workers.engine.resources.commands import Commands, DesiredCommand, ObservedCommand
from workers.engine.resources.files import ObservedFile
from workers.engine.resources.lines import DesiredLine, Lines, edit
from workers.engine.resources.links import DesiredLink, Links, ObservedLink
from workers.engine.resources.ownership import Inode

FILE = Inode("file", 0o644, 0, 0)


@pytest.mark.parametrize(
    ("desired", "observed", "actions"),
    [
        (DesiredLink("/l", "a"), ObservedLink("/r/l"), ["link"]),
        (DesiredLink("/l", "a"), ObservedLink("/r/l", "symlink", "a"), []),
        (DesiredLink("/l", "a"), ObservedLink("/r/l", "symlink", "b"), ["link"]),
        (DesiredLink("/l", "a", force=True), ObservedLink("/r/l", "file"), ["replace"]),
        (
            DesiredLink("/l", "a", force=True),
            ObservedLink("/r/l", "directory", None, True),
            ["replace"],
        ),
    ],
)
def test_symlink_diff(desired: DesiredLink, observed: ObservedLink, actions: list[str]) -> None:
    assert [change.action for change in Links().diff(desired, observed)] == actions


@pytest.mark.parametrize(
    "observed",
    [ObservedLink("/r/l", "file"), ObservedLink("/r/l", "directory", None, False)],
)
def test_symlink_diff_refuses_what_is_in_the_way_without_force(observed: ObservedLink) -> None:
    with pytest.raises(ResourceError, match="in the way"):
        Links().diff(DesiredLink("/l", "a", force=observed.kind == "directory"), observed)


@pytest.mark.parametrize(
    ("kind", "actions"),
    [(None, []), ("file", ["remove"]), ("directory", ["remove"]), ("symlink", ["remove"])],
)
def test_absent_diff(kind: str | None, actions: list[str]) -> None:
    changes = Absent().diff(DesiredAbsence("/x"), ObservedAbsence("/r/x", kind))
    assert [change.action for change in changes] == actions


@pytest.mark.parametrize(
    ("text", "line", "present", "match", "expected"),
    [
        ("a\nb\n", "c", True, None, "a\nb\nc\n"),
        ("a\nb", "c", True, None, "a\nb\nc\n"),
        ("a\nc\n", "c", True, None, "a\nc\n"),
        ("", "c", True, None, "c\n"),
        ("x=1\ny=2\n", "x=3", True, r"^x=", "x=3\ny=2\n"),
        ("x=1\r\ny=2", "y=3", True, r"^y=", "x=1\r\ny=3"),
        ("a\nc\nb\nc\n", "c", False, None, "a\nb\n"),
        ("#x=1\nx=2\n", "x=0", False, r"^x=", "#x=1\n"),
        ("a\n", "c", False, None, "a\n"),
    ],
)
def test_line_edit(text: str, line: str, present: bool, match: str | None, expected: str) -> None:
    pattern = re.compile(match) if match else None
    desired = DesiredLine("/f", line, present, pattern)
    assert edit(text, desired) == expected
    assert edit(expected, desired) == expected


@pytest.mark.parametrize(
    ("desired", "observed", "actions"),
    [
        (DesiredLine("/f", "x"), ObservedFile("/r/f", FILE, b"x\n"), []),
        (DesiredLine("/f", "x"), ObservedFile("/r/f", FILE, b"y\n"), ["write"]),
        (DesiredLine("/f", "x", create=True), ObservedFile("/r/f"), ["write"]),
        (DesiredLine("/f", "x", present=False), ObservedFile("/r/f"), []),
        (DesiredLine("/f", "x", present=False), ObservedFile("/r/f", FILE, b"x\n"), ["write"]),
    ],
)
def test_line_diff(desired: DesiredLine, observed: ObservedFile, actions: list[str]) -> None:
    assert [change.action for change in Lines().diff(desired, observed)] == actions


def test_line_diff_fails_on_a_missing_file_without_create() -> None:
    with pytest.raises(ResourceError, match="create: true"):
        Lines().diff(DesiredLine("/f", "x"), ObservedFile("/r/f"))


@pytest.mark.parametrize(("done", "actions"), [(None, ["run"]), ("/x exists", [])])
def test_command_diff(done: str | None, actions: list[str]) -> None:
    changes = Commands().diff(DesiredCommand("/", ("true",)), ObservedCommand("/r", done))
    assert [change.action for change in changes] == actions


def test_symlink_absent_and_line_apply_then_rerun_converges(
    root: Path, run: Callable[..., Convergence]
) -> None:
    (root / "etc").mkdir()
    (root / "etc/conf").write_text("port=1\nname=a\n")
    (root / "old").mkdir()
    (root / "old/junk").write_text("x")
    (root / "stale").symlink_to("nowhere")
    resources = (
        {"kind": "symlink", "path": "/current", "destination": "etc/conf"},
        {"kind": "absent", "path": "/old"},
        {"kind": "absent", "path": "/stale"},
        {"kind": "line", "path": "/etc/conf", "line": "port=2", "match": "^port="},
        {"kind": "line", "path": "/etc/conf", "line": "name=a", "present": False},
    )
    first = run(*resources)
    assert first.status == OutcomeStatus.CHANGED, first
    assert [r.status for r in first.resources] == [ResourceStatus.CHANGED] * 5
    assert os.readlink(root / "current") == "etc/conf"
    assert not (root / "old").exists() and not os.path.lexists(root / "stale")
    assert (root / "etc/conf").read_text() == "port=2\n"
    assert sorted(p.name for p in root.iterdir()) == ["current", "etc"]
    again = run(*resources)
    assert again.status == OutcomeStatus.CONVERGED
    assert [r.status for r in again.resources] == [ResourceStatus.CONVERGED] * 5


def test_command_guards_decide_whether_it_runs(root: Path, run: Callable[..., Convergence]) -> None:
    make = {"kind": "command", "name": "make-flag", "argv": ["touch", "flag"], "creates": "/flag"}
    first = run(make)
    assert first.resources[0].status == ResourceStatus.CHANGED
    assert (root / "flag").exists()
    second = run(make)
    assert second.resources[0].status == ResourceStatus.CONVERGED
    assert second.resources[0].summary == "not run: /flag exists"

    unless = run({"kind": "command", "argv": ["touch", "u"], "unless": ["test", "-e", "flag"]})
    onlyif = run({"kind": "command", "argv": ["touch", "o"], "onlyif": ["test", "-e", "none"]})
    assert unless.status == onlyif.status == OutcomeStatus.CONVERGED
    assert not (root / "u").exists() and not (root / "o").exists()


def test_command_gets_its_environment_but_not_the_workers(
    root: Path, run: Callable[..., Convergence], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROVISION_BROKER_URL", "amqp://user:secret@broker//")
    result = run({"kind": "command", "argv": ["sh", "-c", "env > seen"], "env": {"GREETING": "hi"}})
    assert result.status == OutcomeStatus.CHANGED
    seen = (root / "seen").read_text()
    assert "GREETING=hi" in seen and f"PROVISION_ROOT={root}" in seen
    assert "secret" not in seen


def test_failing_and_timed_out_commands_fail_the_resource(
    run: Callable[..., Convergence],
) -> None:
    result = run(
        {"kind": "command", "argv": ["sh", "-c", "echo broken >&2; exit 3"]},
        {"kind": "command", "argv": ["sleep", "5"], "timeout_s": 0.2},
        {"kind": "command", "argv": ["/no/such/program"]},
    )
    assert [r.status for r in result.resources] == [ResourceStatus.FAILED] * 3
    assert "exited 3: broken" in result.resources[0].summary
    assert "timed out" in result.resources[1].summary
    assert "could not start" in result.resources[2].summary
    assert result.error is not None and result.error.type == "CommandFailed"
    assert not result.error.transient
