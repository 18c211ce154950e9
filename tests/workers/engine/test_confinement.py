"""Resolution inside the root (issue 11 item 1) and the refusals of item 2.

Every case runs on a real tree: a root under `srv/`, a sibling `srv/outside` holding a
secret, hashed around every converge (`World.converge`), with the target files checked by
content.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from contracts import DesiredState, OutcomeStatus, ResourceStatus, Target
from tests.workers.engine.conftest import tree_hash
from workers.engine.convergence import Convergence, converge

pytestmark = pytest.mark.usefixtures("resolution")


@dataclass(frozen=True)
class World:
    """A sub-root `srv/web-1` and its sibling `srv/outside` (with a secret in it)."""

    root: Path
    outside: Path

    def converge(self, *resources: dict[str, Any], dry_run: bool = False) -> Convergence:
        """Converge a `local://` target at the root; whatever it did, the outside is as it was."""
        before = tree_hash(self.outside)
        target = Target(id="web-1", region="eu", environment="dev", address=f"local://{self.root}")
        desired = DesiredState.model_validate({"resources": resources})
        result = converge(target, desired, dry_run=dry_run)
        assert tree_hash(self.outside) == before, "a converge changed something outside its root"
        return result


@pytest.fixture
def world(tmp_path: Path) -> World:
    root = tmp_path / "srv" / "web-1"
    root.mkdir(parents=True)
    outside = tmp_path / "srv" / "outside"
    outside.mkdir()
    (outside / "secret").write_text("root:hunter2\n")
    return World(root, outside)


def test_200_files_and_an_absolute_link_converge_on_a_sub_root_and_rerun_changes_nothing(
    world: World,
) -> None:
    root = world.root
    state = [
        {"kind": "directory", "path": "/etc/app", "mode": "0755"},
        *({"kind": "file", "path": f"/etc/app/f{i}.conf", "content": f"{i}\n"} for i in range(200)),
        {"kind": "symlink", "path": "/etc/app/current", "destination": "/etc/app/f0.conf"},
        {"kind": "file", "path": "/etc/app/current", "mode": "0640"},
    ]
    first = world.converge(*state)
    assert first.status == OutcomeStatus.CHANGED, first.error
    assert os.readlink(root / "etc/app/current") == "/etc/app/f0.conf"
    assert (root / "etc/app/f0.conf").stat().st_mode & 0o777 == 0o640
    assert (root / "etc/app/f199.conf").read_text() == "199\n"
    rerun = world.converge(*state)
    assert rerun.status == OutcomeStatus.CONVERGED
    assert sum(r.status == ResourceStatus.CHANGED for r in rerun.resources) == 0


def test_a_link_re_pointed_by_a_later_link_stays_inside(world: World) -> None:
    result = world.converge(
        {"kind": "directory", "path": "/a"},
        {"kind": "symlink", "path": "/a/L", "destination": "s/../../outside"},
        {"kind": "symlink", "path": "/a/s", "destination": "."},
        {"kind": "file", "path": "/a/L/secret", "content": "pwned\n"},
        {"kind": "file", "path": "/a/L/new", "content": "pwned\n", "mode": "0777"},
    )
    assert result.status == OutcomeStatus.CHANGED, result.error
    assert (world.outside / "secret").read_text() == "root:hunter2\n"
    assert (world.root / "outside" / "secret").read_text() == "pwned\n"  # `..` stopped at root


def test_a_link_made_by_a_command_is_read_inside_the_root(world: World) -> None:
    root, outside = world.root, world.outside
    result = world.converge(
        {"kind": "directory", "path": "/releases/1"},
        {"kind": "symlink", "path": "/current", "destination": "releases/1"},
        {"kind": "file", "path": "/current/app.conf", "content": "v1\n"},
        {"kind": "command", "argv": ["ln", "-sfn", str(outside), "current"], "path": "/"},
        {"kind": "file", "path": "/current/app.conf", "content": "v2\n"},
        {"kind": "file", "path": "/current/secret", "content": "pwned\n"},
    )
    assert result.status == OutcomeStatus.CHANGED, result.error
    assert os.readlink(root / "current") == str(outside)
    assert (root / "releases/1/app.conf").read_text() == "v1\n"
    assert (root / str(outside).lstrip("/") / "app.conf").read_text() == "v2\n"


def test_a_link_swapped_in_concurrently_never_leads_a_write_outside(world: World) -> None:
    root, outside = world.root, world.outside
    (root / "d").mkdir()
    stop = threading.Event()

    swaps = []

    def swap() -> None:  # d is a directory, then a link to the outside, again and again
        while not stop.is_set():
            try:
                os.rename(root / "d", root / "d.dir")
                os.symlink(outside, root / "d")
                swaps.append(1)
                os.unlink(root / "d")
                os.rename(root / "d.dir", root / "d")
            except OSError:  # the engine made /d again meanwhile: carry on
                pass

    swapper = threading.Thread(target=swap)
    swapper.start()
    try:
        for _ in range(5):
            world.converge(
                *({"kind": "file", "path": f"/d/f{i}", "content": "x"} for i in range(40))
            )
    finally:
        stop.set()
        swapper.join(timeout=10)
    assert swaps


def test_a_hard_link_to_an_outside_file_is_refused_and_a_dry_run_shows_nothing(
    world: World,
) -> None:
    root, outside = world.root, world.outside
    os.link(outside / "secret", root / "shadow")
    (root / "dir").mkdir()
    os.link(outside / "secret", root / "dir" / "shadow")
    before = tree_hash(root)
    resources = (
        {"kind": "file", "path": "/shadow", "content": "x\n"},
        {"kind": "file", "path": "/shadow", "mode": "0777"},
        {"kind": "file", "path": "/shadow", "owner": os.getuid()},
        {"kind": "line", "path": "/shadow", "line": "x"},
        {"kind": "directory", "path": "/dir", "recurse": True, "owner": 65534},
    )
    for dry_run in (True, False):
        result = world.converge(*resources, dry_run=dry_run)
        assert [r.status for r in result.resources[:2]] == [ResourceStatus.FAILED] * 2
        assert result.resources[3].status == ResourceStatus.FAILED
        assert result.resources[4].status == ResourceStatus.FAILED  # recurse over it
        shown = " ".join(f"{r.summary} {r.diff}" for r in result.resources)
        assert "hunter2" not in shown and "hard links" in shown
    assert tree_hash(root) == before
    assert (outside / "secret").stat().st_mode & 0o7777 == 0o644


def test_allow_hardlinks_writes_a_new_file_and_leaves_the_other_name_alone(world: World) -> None:
    os.link(world.outside / "secret", world.root / "shadow")
    result = world.converge(
        {"kind": "file", "path": "/shadow", "content": "x\n", "allow_hardlinks": True}
    )
    assert result.status == OutcomeStatus.CHANGED
    assert (world.root / "shadow").read_text() == "x\n"


@pytest.mark.parametrize("mode", ["6755", "7777", "4755", "2775"])
@pytest.mark.parametrize("kind", ["file", "directory"])
def test_setuid_and_setgid_modes_are_refused_unless_allowed(
    world: World, kind: str, mode: str
) -> None:
    with pytest.raises(ValidationError, match=r"mode.*setuid/setgid.*allow_setid"):
        DesiredState.model_validate({"resources": [{"kind": kind, "path": "/x", "mode": mode}]})
    result = world.converge({"kind": kind, "path": "/x", "mode": mode, "allow_setid": True})
    assert result.status == OutcomeStatus.CHANGED


def test_rewriting_a_setuid_file_that_keeps_its_mode_is_refused(world: World) -> None:
    root = world.root
    (root / "tool").write_text("#!/bin/sh\n")
    os.chmod(root / "tool", 0o4755)
    before = tree_hash(root)
    result = world.converge({"kind": "file", "path": "/tool", "content": "evil\n"})
    assert result.status == OutcomeStatus.FAILED
    assert "setuid" in result.resources[0].summary and tree_hash(root) == before
    kept = world.converge({"kind": "file", "path": "/tool"})  # metadata only: nothing written
    assert kept.status == OutcomeStatus.CONVERGED and tree_hash(root) == before


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("path", "/etc/motd\n.txt"),
        ("path", "/etc/\x1b[2Jmotd"),
        ("path", "/etc/\x7fmotd"),
        ("path", "/etc/\u202emotd"),
        ("path", "/etc/\u2067motd"),
        ("destination", "tar\u202eget"),
    ],
)
def test_control_characters_and_bidi_overrides_in_paths_are_refused(field: str, value: str) -> None:
    resource = {"kind": "symlink", "path": "/l", "destination": "x", field: value}
    with pytest.raises(ValidationError, match=rf"{field}[\s\S]*control characters"):
        DesiredState.model_validate({"resources": [resource]})
