"""The flock on the target itself (no services): busy while another process holds it,
bounded waits, 0600 in a 0700 journal directory, and nothing created by a dry run."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from contracts import Target
from tests.services import flock_held
from tests.workers.engine.conftest import tree_hash
from workers.engine.target_lock import LOCK_FILE, TargetLocked, held


def test_a_held_lock_is_busy_until_its_holder_lets_go(root: Path, target: Target) -> None:
    lock = root / LOCK_FILE.lstrip("/")
    with flock_held(lock):
        with pytest.raises(TargetLocked, match="lock busy"), held(target):
            pytest.fail("entered while another process held the lock")
        with pytest.raises(TargetLocked), held(target, wait_s=0.3):
            pytest.fail("entered while another process held the lock")
    entered = False
    with held(target, wait_s=5):
        entered = True
        with pytest.raises(TargetLocked), held(target):  # a second run in this process too
            pytest.fail("two runs held one target's lock")
    assert entered


def test_the_lock_file_is_0600_in_a_0700_directory(root: Path, target: Target) -> None:
    with held(target):
        lock = root / LOCK_FILE.lstrip("/")
        assert stat.S_IMODE(lock.stat().st_mode) == 0o600
        assert stat.S_IMODE(lock.parent.stat().st_mode) == 0o700


def test_a_dry_run_creates_no_lock_file(root: Path, target: Target) -> None:
    before = tree_hash(root)
    with held(target, create=False):
        pass
    assert tree_hash(root) == before


def test_a_missing_root_is_not_locked(tmp_path: Path) -> None:
    gone = Target(id="gone", region="eu", environment="dev", address=f"local://{tmp_path}/none")
    with held(gone):
        pass
    assert not (tmp_path / "none").exists()
