"""The one reader of secret files: a private regular file within a bound, opened once,
never waited on, never read whole when it is too large; and a signing key read through it."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from contracts.private_files import PrivateFileError, read_private
from contracts.signatures import BadKey, load_private_key, new_private_key, private_pem

SECRET = b"s3cret-not-to-be-shown"
#: Seconds a refusal may take: a call that blocks on a FIFO never returns at all.
PROMPT_S = 5.0


def secret_file(tmp_path: Path, data: bytes = SECRET, mode: int = 0o600) -> Path:
    path = tmp_path / "secret"
    path.write_bytes(data)
    path.chmod(mode)
    return path


def outcome_of(call: Callable[[], object], unblock: Path | None = None) -> BaseException | None:
    """What `call` raised (None when it returned), failing the test when it does not return
    within PROMPT_S. `unblock`: a FIFO opened for writing after a timeout, so a reader left
    waiting on it ends instead of outliving the test."""
    raised: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
            raised.append(None)
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(PROMPT_S)
    if thread.is_alive() and unblock is not None:
        os.close(os.open(unblock, os.O_WRONLY | os.O_NONBLOCK))
    assert not thread.is_alive(), f"still running after {PROMPT_S} s"
    return raised[0]


def test_a_private_regular_file_is_read(tmp_path: Path) -> None:
    assert read_private(secret_file(tmp_path), 4096) == SECRET
    assert read_private(secret_file(tmp_path, b""), 4096) == b""
    assert read_private(secret_file(tmp_path, b"x" * 64), 64) == b"x" * 64  # the bound itself


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o602, 0o644, 0o700 | 0o001])
def test_a_file_group_or_others_may_use_is_refused_when_private(tmp_path: Path, mode: int) -> None:
    path = secret_file(tmp_path, mode=mode)
    with pytest.raises(PrivateFileError) as refused:
        read_private(path, 4096)
    assert refused.value.problem == "shared" and refused.value.mode == mode
    assert f"mode {mode:04o}" in refused.value.reason
    assert SECRET.decode() not in str(refused.value)
    assert read_private(path, 4096, private=False) == SECRET  # e.g. a TLS certificate


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    raised = outcome_of(lambda: read_private(fifo, 4096), unblock=fifo)
    assert isinstance(raised, PrivateFileError) and raised.problem == "not-regular"


def test_a_directory_is_refused(tmp_path: Path) -> None:
    tmp_path.chmod(0o700)
    with pytest.raises(PrivateFileError, match="not a regular file") as refused:
        read_private(tmp_path, 4096)
    assert refused.value.problem == "not-regular"


def test_a_missing_file_is_refused_with_the_system_s_reason(tmp_path: Path) -> None:
    with pytest.raises(PrivateFileError, match=r"cannot open it \(No such file") as refused:
        read_private(tmp_path / "missing", 4096)
    assert refused.value.problem == "open"


def test_a_file_over_the_bound_is_refused_without_reading_it(tmp_path: Path) -> None:
    huge = secret_file(tmp_path)
    os.truncate(huge, 1 << 40)  # sparse: a terabyte read whole would never end
    raised = outcome_of(lambda: read_private(huge, 4096))
    assert isinstance(raised, PrivateFileError) and raised.problem == "too-large"
    assert raised.reason == "over 4096 bytes"


def test_a_file_that_grows_after_it_was_checked_is_read_no_further_than_the_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = secret_file(tmp_path, b"x" * 100_000)
    real_fstat, real_read, asked = os.fstat, os.read, []

    def small_fstat(fd: int) -> os.stat_result:
        fields = list(real_fstat(fd))
        fields[6] = 10  # st_size as it was before the file grew
        return os.stat_result(fields)

    def counted_read(fd: int, n: int) -> bytes:
        asked.append(n)
        return real_read(fd, n)

    monkeypatch.setattr(os, "fstat", small_fstat)
    monkeypatch.setattr(os, "read", counted_read)
    with pytest.raises(PrivateFileError) as refused:
        read_private(path, 100)
    assert refused.value.problem == "too-large" and sum(asked) <= 101


def test_a_symlink_to_a_private_file_is_followed_as_every_caller_did(tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(secret_file(tmp_path))
    assert read_private(link, 4096) == SECRET
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "missing")
    with pytest.raises(PrivateFileError) as refused:
        read_private(dangling, 4096)
    assert refused.value.problem == "open"


# load_private_key had no regular-file check and read the whole file before bounding it.


def test_a_signing_key_is_still_read(tmp_path: Path) -> None:
    key = new_private_key()
    path = secret_file(tmp_path, private_pem(key))
    assert load_private_key(path).public_key() == key.public_key()


def test_a_signing_key_that_is_a_fifo_is_refused_promptly(tmp_path: Path) -> None:
    fifo = tmp_path / "key.pem"
    os.mkfifo(fifo, 0o600)
    raised = outcome_of(lambda: load_private_key(fifo), unblock=fifo)
    assert isinstance(raised, BadKey)
    assert str(raised) == f"signing key {fifo}: not a regular file"


def test_an_oversize_signing_key_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    path = secret_file(tmp_path, SECRET)
    os.truncate(path, 1 << 40)  # sparse; starts with SECRET
    raised = outcome_of(lambda: load_private_key(path))
    assert isinstance(raised, BadKey)
    assert str(raised).startswith(f"signing key {path}: longer than 4096 bytes")
    assert SECRET.decode() not in str(raised)
