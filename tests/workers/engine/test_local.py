"""Local mode: `python -m workers converge ROOT STATE_FILE`, exit codes and --json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from contracts import ContractError
from tests.services import flock_held
from workers.engine.target_lock import LOCK_FILE, TargetLocked
from workers.standalone import load_state, run

STATE = """\
resources:
  - kind: directory
    path: /etc/app
    mode: "0755"
  - kind: file
    path: /etc/app/motd
    content: "hello\\n"
    mode: "0644"
"""


def write(tmp_path: Path, text: str, name: str = "state.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_converge_then_rerun_with_json_counts(
    tmp_path: Path, root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = write(tmp_path, STATE)
    assert run(root, state, dry_run=False, as_json=False) == 0
    assert "2 changed" in capsys.readouterr().out
    assert run(root, state, dry_run=False, as_json=True) == 0
    document = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert document["counts"]["converged"] == 2 and document["counts"]["changed"] == 0
    assert [(r["kind"], r["path"], r["status"]) for r in document["resources"]] == [
        ("directory", "/etc/app", "converged"),
        ("file", "/etc/app/motd", "converged"),
    ]
    assert all(r["summary"] for r in document["resources"])


def test_json_state_file_and_dry_run_prints_the_diff(
    tmp_path: Path, root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = write(
        tmp_path,
        json.dumps({"resources": [{"kind": "file", "path": "/motd", "content": "new\n"}]}),
        "s.json",
    )
    assert run(root, state, dry_run=True, as_json=False) == 0
    out = capsys.readouterr().out
    assert "+new" in out and out.strip().endswith("drifted: 1 changed")
    assert list(root.iterdir()) == []


@pytest.mark.parametrize(
    ("resource", "where"),
    [
        ("{kind: file, path: /a, mode: 644}", "resources.0 (/a).mode"),
        ("{kind: nope, path: /a}", "resources.0"),
        ("{kind: file}", "resources.0.path"),
        ('{kind: line, path: /a, line: x, match: "("}', "resources.0 (/a).match"),
        ("{kind: file, path: /x/../../etc}", "resources.0 (/x/../../etc).path"),
    ],
)
def test_bad_input_names_index_path_and_field(tmp_path: Path, resource: str, where: str) -> None:
    state = write(tmp_path, f"resources:\n  - {resource}\n")
    with pytest.raises(ContractError) as caught:
        load_state(state)
    assert where in str(caught.value)


def test_unknown_template_variable_exits_2_and_applies_nothing(
    tmp_path: Path, root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = write(
        tmp_path,
        "resources:\n  - {kind: file, path: /ok, content: x}\n"
        "  - {kind: file, path: /t, template: '{{ nope }}'}\n",
    )
    assert run(root, state, dry_run=False, as_json=False) == 2
    assert "resources.1 (/t).template" in capsys.readouterr().err
    assert files(root) == [LOCK_FILE.lstrip("/")]  # the target's lock only: nothing applied


def files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_converge_waits_for_the_target_lock_and_changes_nothing_while_it_is_held(
    tmp_path: Path, root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A worker or an agent converging the same root keeps `provision converge` out."""
    state = write(tmp_path, STATE)
    with flock_held(root / LOCK_FILE.lstrip("/")):
        with pytest.raises(TargetLocked, match="lock busy"):
            run(root, state, dry_run=False, as_json=False, lock_wait_s=0.3)
        with pytest.raises(TargetLocked):  # a dry run waits for the lock too
            run(root, state, dry_run=True, as_json=False, lock_wait_s=0)
        assert files(root) == [LOCK_FILE.lstrip("/")]
    assert run(root, state, dry_run=False, as_json=False, lock_wait_s=5) == 0
    assert "2 changed" in capsys.readouterr().out
    assert (root / "etc/app/motd").read_text() == "hello\n"


def test_converge_command_runs_lean_and_prints_json_last(tmp_path: Path, root: Path) -> None:
    """The CLI path (as `python -m workers` starts it) imports no broker client, no
    producers, no OpenTelemetry (it does not trace), no package metadata (no pydantic
    plugins), nor Jinja2 without a template."""
    state = write(tmp_path, STATE)
    probe = (
        "import sys\n"
        "from contracts.plugins import disable\n"
        "disable()\n"
        "from workers.cli import main\n"
        "sys.argv = ['workers', 'converge', sys.argv[1], sys.argv[2], '--json']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exit:\n"
        "    heavy = {'celery', 'kombu', 'pika', 'redis', 'rich', 'jinja2', 'producers',"
        " 'opentelemetry', 'importlib.metadata'}\n"
        "    heavy &= set(sys.modules)\n"
        "    print(exit.code, sorted(heavy), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(root), str(state)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parents[3],
    )
    assert done.stderr.strip() == "0 []", done.stderr
    document = json.loads(done.stdout.strip().splitlines()[-1])
    assert document["status"] == "changed"
    assert document["counts"]["changed"] == 2
