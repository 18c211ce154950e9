"""The witness: a rerun on an unchanged root is answered without the engine, with the
engine's own output, and anything that could change the engine's answer is a miss."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.services import flock_held
from workers import shortcut, witness_cache
from workers.engine.convergence import converge
from workers.engine.target_lock import LOCK_FILE
from workers.standalone import as_document, load_state, local_target, run
from workers.witness_writer import WitnessWriter

FILES = {f"/etc/app/f{index}.conf": f"line {index}\n" for index in range(3)}


def state_text(**extra: object) -> str:
    resources = [
        {"kind": "file", "path": path, "content": text, "mode": "0644", **extra}
        for path, text in FILES.items()
    ]
    return json.dumps({"resources": resources})


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test its own cache: some of them break it on purpose."""
    monkeypatch.setenv("PROVISION_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def state(tmp_path: Path) -> Path:
    path = tmp_path / "state.json"
    path.write_text(state_text())
    return path


def argv(root: Path, state: Path, *flags: str) -> list[str]:
    return ["converge", str(root), str(state), *flags]


def answer(root: Path, state: Path, *flags: str) -> tuple[int | None, str]:
    """What the shortcut says: its exit code (None: run the engine) and its output."""
    out = io.StringIO()
    return shortcut.run(argv(root, state, *flags), out), out.getvalue()


def engine(root: Path, state: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> str:
    """The engine's own output for the same command line, keeping no witness."""
    capsys.readouterr()
    code = run(
        root,
        state,
        dry_run="--dry-run" in flags,
        as_json="--json" in flags,
        witness=False,
    )
    assert code == 0
    return capsys.readouterr().out


def entry(root: Path, state: Path) -> Path:
    return Path(witness_cache.directory()) / witness_cache.entry_name(str(root), str(state))


def converged(root: Path, state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """First run (it changes everything), which leaves the witness of the converged root."""
    assert run(root, state, dry_run=False, as_json=False) == 0
    assert "3 changed" in capsys.readouterr().out
    assert entry(root, state).is_file()


@pytest.mark.parametrize("flags", [(), ("--json",), ("--dry-run",), ("--json", "--dry-run")])
def test_a_rerun_is_answered_with_the_engines_own_output(
    root: Path, state: Path, capsys: pytest.CaptureFixture[str], flags: tuple[str, ...]
) -> None:
    converged(root, state, capsys)
    code, out = answer(root, state, *flags)
    assert code == 0
    assert out == engine(root, state, capsys, *flags)
    assert "converged" in out and "changed" not in out.replace('"changed":0', "")


def test_a_hit_imports_no_engine_and_a_miss_runs_it(
    root: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    converged(root, state, capsys)
    command = [sys.executable, "-X", "importtime", "-m", "workers", *argv(root, state, "--json")]
    hit = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert hit.returncode == 0, hit.stderr[-2000:]
    assert json.loads(hit.stdout)["counts"]["converged"] == 3
    assert "pydantic" not in hit.stderr and "contracts" not in hit.stderr
    (root / "etc/app/f1.conf").write_text("edited\n")
    miss = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert miss.returncode == 0, miss.stderr[-2000:]
    assert json.loads(miss.stdout)["counts"]["changed"] == 1  # the engine repaired it
    assert "pydantic" in miss.stderr
    no_witness = [*command, "--no-witness"]
    again = subprocess.run(no_witness, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "pydantic" in again.stderr


def _content(root: Path, state: Path) -> None:
    (root / "etc/app/f0.conf").write_text("line 0 \n")


def _mode(root: Path, state: Path) -> None:
    (root / "etc/app/f0.conf").chmod(0o600)


def _hard_link(root: Path, state: Path) -> None:
    os.link(root / "etc/app/f0.conf", root / "elsewhere")


def _file_link(root: Path, state: Path) -> None:
    shutil.copy(root / "etc/app/f0.conf", root / "copy")
    (root / "etc/app/f0.conf").unlink()
    (root / "etc/app/f0.conf").symlink_to("/copy")


def _directory_link(root: Path, state: Path) -> None:
    shutil.copytree(root / "etc/app", root / "app-copy")
    shutil.rmtree(root / "etc/app")
    (root / "etc/app").symlink_to("/app-copy")


def _removed(root: Path, state: Path) -> None:
    (root / "etc/app/f2.conf").unlink()


def _state_edited(root: Path, state: Path) -> None:
    state.write_text(state_text() + "\n")


def _lock_removed(root: Path, state: Path) -> None:
    (root / LOCK_FILE.lstrip("/")).unlink()


def _setting(root: Path, state: Path) -> None:
    os.environ["PROVISION_LIMIT_FILE_BYTES"] = "1048576"


def _env_file(root: Path, state: Path) -> None:
    os.environ["PROVISION_ENV_FILE"] = str(state.parent / "absent.env")


def _cache_open_to_group(root: Path, state: Path) -> None:
    os.chmod(witness_cache.directory(), 0o770)


def _entry_readable(root: Path, state: Path) -> None:
    entry(root, state).chmod(0o644)


def _entry_link(root: Path, state: Path) -> None:
    path = entry(root, state)
    path.rename(path.with_suffix(".real"))
    path.symlink_to(path.with_suffix(".real"))


def _key_short(root: Path, state: Path) -> None:
    (Path(witness_cache.directory()) / witness_cache.KEY_FILE).write_bytes(b"short")


def _entry_garbage(root: Path, state: Path) -> None:
    entry(root, state).write_bytes(b"\xff{not json")


def _entry_wrong_types(root: Path, state: Path) -> None:
    data = json.loads(entry(root, state).read_text())
    data.update(paths=3, seen=5, document=[])
    entry(root, state).write_text(json.dumps(data))


def _entry_wrong_shapes(root: Path, state: Path) -> None:
    data = json.loads(entry(root, state).read_text())
    data.update(paths=[1, None], document={"status": "converged", "counts": 1, "resources": [1]})
    entry(root, state).write_text(json.dumps(data))


def _entry_bad_outcomes(root: Path, state: Path) -> None:
    data = json.loads(entry(root, state).read_text())
    data["document"]["resources"] = [1, "x"]
    entry(root, state).write_text(json.dumps(data))


def _entry_not_converged(root: Path, state: Path) -> None:
    data = json.loads(entry(root, state).read_text())
    data["document"]["status"] = "changed"
    entry(root, state).write_text(json.dumps(data))


@pytest.mark.parametrize(
    "change",
    [
        _content,
        _mode,
        _hard_link,
        _file_link,
        _directory_link,
        _removed,
        _state_edited,
        _lock_removed,
        _setting,
        _env_file,
        _cache_open_to_group,
        _entry_readable,
        _entry_link,
        _key_short,
        _entry_garbage,
        _entry_wrong_types,
        _entry_wrong_shapes,
        _entry_bad_outcomes,
        _entry_not_converged,
    ],
)
def test_anything_that_could_change_the_answer_runs_the_engine(
    root: Path,
    state: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    change: Callable[[Path, Path], None],
) -> None:
    converged(root, state, capsys)
    for name in ("PROVISION_LIMIT_FILE_BYTES", "PROVISION_ENV_FILE"):
        monkeypatch.setenv(name, "")  # so that what `change` sets is undone after the test
        monkeypatch.delenv(name)
    assert answer(root, state)[0] == 0  # the control: unchanged, it is a hit
    change(root, state)
    assert answer(root, state) == (None, "")


def test_a_root_being_converged_is_left_to_the_engine(
    root: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    converged(root, state, capsys)
    with flock_held(root / LOCK_FILE.lstrip("/")):
        assert answer(root, state) == (None, "")
    assert answer(root, state)[0] == 0


def test_code_changes_change_the_stamp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = tmp_path / "code" / "engine.py"
    module.parent.mkdir()
    module.write_text("x = 1\n")
    monkeypatch.setattr(witness_cache, "_packages", lambda: [str(module.parent)])
    before = witness_cache.stamp()
    assert witness_cache.stamp() == before
    os.utime(module, ns=(module.stat().st_atime_ns, module.stat().st_mtime_ns + 1))
    assert witness_cache.stamp() != before


@pytest.mark.parametrize(
    "extra",
    [
        {"owner": "root"},
        {"group": "root"},
        {"template": "{{ hostname }}", "content": None},
    ],
)
def test_only_plain_files_are_witnessed(
    tmp_path: Path, root: Path, capsys: pytest.CaptureFixture[str], extra: dict[str, object]
) -> None:
    state = tmp_path / "state.json"
    state.write_text(state_text(**extra))
    run(root, state, dry_run=False, as_json=False)
    run(root, state, dry_run=False, as_json=False)
    capsys.readouterr()
    assert not entry(root, state).exists()


def test_checks_and_other_kinds_are_not_witnessed(
    tmp_path: Path, root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state.yaml"
    state.write_text(
        "resources:\n  - {kind: directory, path: /etc/app}\n"
        "  - {kind: file, path: /etc/app/f, content: x}\n"
    )
    run(root, state, dry_run=False, as_json=False)
    checked = tmp_path / "checked.yaml"
    checked.write_text(
        "checks:\n  - {kind: path_exists, path: /etc/app/f}\n"
        "resources:\n  - {kind: file, path: /etc/app/f, content: x}\n"
    )
    run(root, checked, dry_run=False, as_json=False)
    capsys.readouterr()
    assert not entry(root, state).exists() and not entry(root, checked).exists()


def test_files_that_move_during_the_run_leave_no_witness(
    root: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    converged(root, state, capsys)
    entry(root, state).unlink()
    desired = load_state(state)
    digest = shortcut.state_digest(str(state))
    writer = WitnessWriter.start(shortcut.Request(str(root), str(state)), digest, desired)
    assert writer is not None
    target = local_target(root)
    done = as_document(converge(target, desired), root, False)
    seen = writer.observe()
    assert seen is not None and done["status"] == "converged"

    def check() -> dict[str, object]:
        return as_document(converge(target, desired, dry_run=True), root, True)

    moved = [[-1, *seen[0][1:]], *seen[1:]]  # as if f0 had been another kind at the start
    writer.finish(moved, done, check)
    assert not entry(root, state).exists()
    writer.finish(seen, done, check)
    assert entry(root, state).exists()  # the control: unmoved, it is kept


def test_the_witness_shows_no_content_hash(
    root: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Content hashes are keyed: the cache says "same or not", never what a file holds."""
    import hashlib

    converged(root, state, capsys)
    text = entry(root, state).read_text()
    for content in FILES.values():
        data = content.encode()
        assert hashlib.sha256(data).hexdigest() not in text
        assert hashlib.blake2b(data, digest_size=32).hexdigest() not in text
    key = Path(witness_cache.directory()) / witness_cache.KEY_FILE
    assert key.stat().st_mode & 0o777 == 0o600 and len(key.read_bytes()) == 32
    assert entry(root, state).stat().st_mode & 0o777 == 0o600
    assert os.stat(witness_cache.directory()).st_mode & 0o777 == 0o700


@pytest.mark.parametrize(
    "words",
    [
        [],
        ["worker", "--region", "eu"],
        ["--debug", "converge", "r", "s"],
        ["converge", "r"],
        ["converge", "r", "s", "t"],
        ["converge", "r", "s", "--no-witness"],
        ["converge", "r", "s", "-h"],
        ["converge", "--", "r", "s"],
        ["converge", "", "s"],
    ],
)
def test_other_command_lines_are_not_shortcut(words: list[str]) -> None:
    assert shortcut.request(words) is None
    assert shortcut.run(words, io.StringIO()) is None


@pytest.mark.parametrize(
    "root", [".", "./", "r", "r/", "./r/./s//", "/", "//", "///", "//r/", "/a/../b", "a//b/."]
)
def test_roots_are_shown_as_the_engine_shows_them(root: str) -> None:
    assert shortcut.shown(root) == str(Path(root))


def test_a_witness_that_cannot_be_kept_never_fails_the_run(
    root: Path, state: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def gone() -> str:
        raise FileNotFoundError("a module removed while the stamp was taken")

    monkeypatch.setattr(witness_cache, "stamp", gone)
    assert run(root, state, dry_run=False, as_json=False) == 0
    assert "3 changed" in capsys.readouterr().out
    assert not entry(root, state).exists()
