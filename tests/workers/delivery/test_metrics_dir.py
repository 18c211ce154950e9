"""The worker's multiprocess directory: made private, locked, and emptied of old samples."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from contracts.errors import ContractError
from workers.delivery.metrics import LOCK_FILE, MULTIPROC_ENV, metrics_dir, prepare


def test_a_new_directory_is_made_private(tmp_path: Path) -> None:
    made = prepare(tmp_path / "a" / "metrics")
    assert made.is_dir() and (made.stat().st_mode & 0o777) == 0o700


def test_old_sample_files_are_deleted_at_start_and_nothing_else(tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir(mode=0o700)
    for name in ("counter_123.db", "histogram_123.db", "gauge_livesum_9.db"):
        (directory / name).write_bytes(b"\0" * 64)
    (directory / "notes.txt").write_text("kept")
    prepare(directory)
    assert sorted(p.name for p in directory.iterdir()) == [LOCK_FILE, "notes.txt"]


def test_a_symlink_or_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    (tmp_path / "real" / "counter_1.db").write_bytes(b"x")
    with pytest.raises(ContractError, match="symlink"):
        prepare(tmp_path / "link")
    assert (tmp_path / "real" / "counter_1.db").exists(), "nothing deleted through the link"
    (tmp_path / "file").write_text("")
    with pytest.raises(ContractError, match=MULTIPROC_ENV):
        prepare(tmp_path / "file")


def test_a_directory_another_worker_holds_is_refused_and_left_alone(tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir(mode=0o700)
    (directory / "counter_7.db").write_bytes(b"x")
    holder = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(ContractError, match="in use by another worker"):
            prepare(directory)
        assert (directory / "counter_7.db").exists()
    finally:
        os.close(holder)


def test_the_default_directory_is_per_user_and_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    assert metrics_dir(9101).name == f"provision-worker-metrics-{os.getuid()}-9101"
    monkeypatch.setenv(MULTIPROC_ENV, "/somewhere/mine")
    assert metrics_dir(9101) == Path("/somewhere/mine")
