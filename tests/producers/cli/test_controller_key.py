"""`provision controller-key create`, and the commands that sign refusing to run without the
key: one line naming the flag, exit 2, before any service is touched."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from contracts.controller_signatures import CONTROLLER_KEY_ENV, CONTROLLER_PUBLIC_KEY_ENV
from contracts.signatures import load_private_key, load_public_key, public_pem
from tests.isolation import ROOT

pytestmark = pytest.mark.slow  # each runs `provision` as a subprocess


def provision(*args: str) -> subprocess.CompletedProcess[str]:
    """`provision ARGS...` with no controller key in its environment."""
    drop = {CONTROLLER_KEY_ENV, CONTROLLER_PUBLIC_KEY_ENV}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "producers", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_create_writes_a_0600_key_and_its_public_half_and_prints_the_public_path(
    tmp_path: Path,
) -> None:
    out = tmp_path / "keys"
    done = provision("controller-key", "create", "--out", str(out))
    assert done.returncode == 0, done.stderr
    private, public = out / "controller.key", out / "controller.pub"
    assert f"public key: {public}" in done.stdout
    assert private.stat().st_mode & 0o777 == 0o600 and out.stat().st_mode & 0o777 == 0o700
    assert "PRIVATE" not in done.stdout, "the private key is never printed"
    key = load_private_key(private)
    assert public.read_text() == public_pem(key)
    load_public_key(public.read_text())
    again = provision("controller-key", "create", "--out", str(out))
    assert again.returncode == 2 and "already holds a controller key" in again.stderr
    assert load_private_key(private) is not None  # not overwritten


def test_the_controller_and_state_publish_refuse_to_run_without_the_key(tmp_path: Path) -> None:
    for args in (("controller",), ("state", "publish", str(tmp_path), "-m", "x")):
        done = provision(*args)
        assert done.returncode == 2, (args, done)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "--controller-key" in lines[0], (args, lines)


def test_a_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "keys"
    assert provision("controller-key", "create", "--out", str(out)).returncode == 0
    (out / "controller.key").chmod(0o644)
    done = provision("controller", "--controller-key", str(out / "controller.key"))
    assert done.returncode == 2 and "readable by others" in done.stderr, done


def test_keep_keeps_an_existing_pair_and_public_out_copies_only_the_public_half(
    tmp_path: Path,
) -> None:
    """What compose.yaml's one-shot `keys` service runs on every start."""
    out, public_dir = tmp_path / "keys", tmp_path / "public"
    args = ["controller-key", "create", "--out", str(out), "--keep", "--public-out"]
    first = provision(*args, str(public_dir))
    assert first.returncode == 0, first.stderr
    key = load_private_key(out / "controller.key")
    again = provision(*args, str(public_dir))
    assert again.returncode == 0 and "(kept)" in again.stdout, again.stderr
    assert public_pem(load_private_key(out / "controller.key")) == public_pem(key)
    assert [p.name for p in public_dir.iterdir()] == ["controller.pub"]
    assert (public_dir / "controller.pub").read_text() == public_pem(key)
    without = provision("controller-key", "create", "--out", str(out))
    assert without.returncode == 2 and "already holds" in without.stderr
