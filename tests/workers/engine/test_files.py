"""The file and directory resource types: pure diff tables, then apply on temporary roots."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from contracts import OutcomeStatus, ResourceStatus
from workers.engine.convergence import Convergence
from workers.engine.resources import ResourceError
from workers.engine.resources.directories import DesiredDirectory, Directories, ObservedDirectory
from workers.engine.resources.files import DesiredFile, Files, ObservedFile
from workers.engine.resources.ownership import Inode

FILE = Inode("file", 0o644, 1000, 1000)
DIRECTORY = Inode("directory", 0o755, 1000, 1000)


@pytest.mark.parametrize(
    ("desired", "observed", "actions"),
    [
        (DesiredFile("/f", b"a"), ObservedFile("/r/f"), ["create"]),
        (DesiredFile("/f", b"a"), ObservedFile("/r/f", FILE, b"a"), []),
        (DesiredFile("/f", b"a"), ObservedFile("/r/f", FILE, b"b"), ["write"]),
        (DesiredFile("/f", b"a", mode=0o600), ObservedFile("/r/f", FILE, b"a"), ["mode"]),
        (DesiredFile("/f", b"a", mode=0o644), ObservedFile("/r/f", FILE, b"a"), []),
        (DesiredFile("/f", b"a", uid=0), ObservedFile("/r/f", FILE, b"a"), ["owner"]),
        (DesiredFile("/f", b"a", gid=1000), ObservedFile("/r/f", FILE, b"a"), []),
        (
            DesiredFile("/f", b"a", mode=0o600, uid=0),
            ObservedFile("/r/f", FILE, b"a"),
            ["mode", "owner"],
        ),
        (DesiredFile("/f", b"a", mode=0o600), ObservedFile("/r/f", FILE, b"b"), ["write"]),
    ],
)
def test_file_diff(desired: DesiredFile, observed: ObservedFile, actions: list[str]) -> None:
    assert [change.action for change in Files().diff(desired, observed)] == actions


def test_file_diff_shows_a_unified_diff_but_never_a_sensitive_one() -> None:
    observed = ObservedFile("/r/f", FILE, b"one\ntwo\n")
    [change] = Files().diff(DesiredFile("/f", b"one\nthree\n"), observed)
    assert change.diff is not None
    assert "-two\n" in change.diff and "+three\n" in change.diff
    [secret] = Files().diff(DesiredFile("/f", b"hunter2\n", sensitive=True), observed)
    assert secret.diff is None
    summary = Files().summarize(DesiredFile("/f", b"hunter2\n", sensitive=True), observed, [secret])
    assert "sha256" not in summary and "hunter2" not in summary


def test_file_diff_refuses_a_directory_in_the_way() -> None:
    with pytest.raises(ResourceError, match="directory is in the way"):
        Files().diff(DesiredFile("/f", b"a"), ObservedFile("/r/f", DIRECTORY))


def test_file_summary_names_old_and_new_hash_and_mode() -> None:
    desired = DesiredFile("/f", b"new", mode=0o600)
    observed = ObservedFile("/r/f", FILE, b"old")
    summary = Files().summarize(desired, observed, Files().diff(desired, observed))
    assert summary.startswith("sha256:")
    assert " -> sha256:" in summary and "mode 0644 -> 0600" in summary


@pytest.mark.parametrize(
    ("desired", "observed", "actions"),
    [
        (DesiredDirectory("/d"), ObservedDirectory("/r/d"), ["create"]),
        (DesiredDirectory("/d"), ObservedDirectory("/r/d", DIRECTORY), []),
        (DesiredDirectory("/d", mode=0o700), ObservedDirectory("/r/d", DIRECTORY), ["mode"]),
        (DesiredDirectory("/d", uid=0), ObservedDirectory("/r/d", DIRECTORY), ["owner"]),
        (
            DesiredDirectory("/d", mode=0o755, recurse=True),
            ObservedDirectory("/r/d", DIRECTORY, (("/r/d/x", FILE),)),
            [],
        ),
        (
            DesiredDirectory("/d", mode=0o700, recurse=True),
            ObservedDirectory(
                "/r/d",
                Inode("directory", 0o700, 1000, 1000),
                (("/r/d/x", FILE), ("/r/d/y", DIRECTORY)),
            ),
            ["beneath"],
        ),
    ],
)
def test_directory_diff(
    desired: DesiredDirectory, observed: ObservedDirectory, actions: list[str]
) -> None:
    assert [change.action for change in Directories().diff(desired, observed)] == actions


def test_directory_diff_refuses_a_file_in_the_way() -> None:
    with pytest.raises(ResourceError, match="file is in the way"):
        Directories().diff(DesiredDirectory("/d"), ObservedDirectory("/r/d", FILE))


def test_files_apply_then_a_rerun_reports_zero_changes(
    root: Path, run: Callable[..., Convergence]
) -> None:
    resources = (
        {"kind": "directory", "path": "/etc/app", "mode": "0750"},
        {"kind": "file", "path": "/etc/app/motd", "content": "hello\n", "mode": "0640"},
        {"kind": "file", "path": "/etc/app/env", "template": "{{ id }} {{ labels.role }}\n"},
    )
    first = run(*resources)
    assert first.status == OutcomeStatus.CHANGED, first
    assert [r.status for r in first.resources] == [ResourceStatus.CHANGED] * 3
    assert (root / "etc/app/motd").read_text() == "hello\n"
    assert stat.S_IMODE((root / "etc/app/motd").stat().st_mode) == 0o640
    assert stat.S_IMODE((root / "etc/app").stat().st_mode) == 0o750
    assert (root / "etc/app/env").read_text() == "web-1 web\n"

    again = run(*resources)
    assert again.status == OutcomeStatus.CONVERGED
    assert [r.status for r in again.resources] == [ResourceStatus.CONVERGED] * 3
    assert again.error is None


def test_file_repairs_content_and_mode_and_leaves_no_temporary_files(
    root: Path, run: Callable[..., Convergence]
) -> None:
    (root / "motd").write_text("tampered\n")
    os.chmod(root / "motd", 0o666)
    result = run({"kind": "file", "path": "/motd", "content": "hello\n", "mode": "0644"})
    assert result.resources[0].status == ResourceStatus.CHANGED
    assert "mode 0666 -> 0644" in result.resources[0].summary
    assert (root / "motd").read_text() == "hello\n"
    assert stat.S_IMODE((root / "motd").stat().st_mode) == 0o644
    assert sorted(p.name for p in root.iterdir()) == ["motd"]

    os.chmod(root / "motd", 0o600)
    only_mode = run({"kind": "file", "path": "/motd", "content": "hello\n", "mode": "0644"})
    assert only_mode.resources[0].summary.endswith("mode 0600 -> 0644")
    assert stat.S_IMODE((root / "motd").stat().st_mode) == 0o644


def test_directory_recurse_sets_mode_on_subdirectories_only(
    root: Path, run: Callable[..., Convergence]
) -> None:
    (root / "srv/sub").mkdir(parents=True)
    (root / "srv/sub/data").write_text("x")
    os.chmod(root / "srv/sub", 0o777)
    os.chmod(root / "srv/sub/data", 0o600)
    result = run({"kind": "directory", "path": "/srv", "mode": "0750", "recurse": True})
    assert result.status == OutcomeStatus.CHANGED
    assert stat.S_IMODE((root / "srv/sub").stat().st_mode) == 0o750
    assert stat.S_IMODE((root / "srv/sub/data").stat().st_mode) == 0o600
    rerun = run({"kind": "directory", "path": "/srv", "mode": "0750", "recurse": True})
    assert rerun.status == OutcomeStatus.CONVERGED


def test_owner_and_group_by_id_are_applied(root: Path, run: Callable[..., Convergence]) -> None:
    uid, gid = os.geteuid(), os.getegid()
    result = run({"kind": "file", "path": "/owned", "content": "x", "owner": uid, "group": gid})
    assert result.status == OutcomeStatus.CHANGED
    seen = (root / "owned").stat()
    assert (seen.st_uid, seen.st_gid) == (uid, gid)
    assert (
        run({"kind": "file", "path": "/owned", "content": "x", "owner": uid, "group": gid}).status
        == OutcomeStatus.CONVERGED
    )


def test_unknown_owner_is_bad_input_naming_resource_and_field(
    root: Path, run: Callable[..., Convergence]
) -> None:
    result = run(
        {"kind": "file", "path": "/a", "content": "x"},
        {"kind": "file", "path": "/b", "content": "x", "owner": "no-such-user-xyz"},
    )
    assert result.status == OutcomeStatus.FAILED
    assert result.error is not None and result.error.type == "ContractError"
    assert "resources.1 (/b).owner" in result.error.message
    assert list(root.iterdir()) == []
