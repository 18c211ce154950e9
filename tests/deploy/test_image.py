"""The Dockerfile's install steps, run here without Docker from a read-only copy of the sources.

The old compose file ran `pip install /src` on a read-only mount, and setuptools failed
writing `provisioning.egg-info` into it. The image now builds a wheel in a copy of the
sources (its build stage) and installs only the wheel. This test replays those steps: the
build stage's COPY lines from a read-only copy, its RUN line, then installs the wheel in a
directory of its own and runs `provision` from there, away from the source tree.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.isolation import ROOT

IGNORED = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", "*.pyc", ".*_cache", "*.egg-info", "build", "dist"
)


def _build_stage() -> tuple[list[list[str]], list[str]]:
    """The COPY (sources, destination) and RUN lines of the Dockerfile's first stage."""
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    stages = [i for i, line in enumerate(lines) if line.startswith("FROM ")]
    assert len(stages) == 2, "a build stage and an install stage"
    copies = [shlex.split(line)[1:] for line in lines[: stages[1]] if line.startswith("COPY ")]
    runs = [line[4:] for line in lines[: stages[1]] if line.startswith("RUN ")]
    assert copies and runs
    return copies, runs


def _snapshot(tree: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(tree)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(tree.rglob("*"))
    }


@pytest.mark.slow  # builds a wheel and a virtualenv: seconds, not the quick loop's business
def test_the_image_builds_from_a_read_only_source_and_runs_from_the_wheel(tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=IGNORED)
    for path in [source, *source.rglob("*")]:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    before = _snapshot(source)

    build, wheels = tmp_path / "build", tmp_path / "wheels"
    build.mkdir()
    copies, runs = _build_stage()
    for *sources, destination in copies:  # COPY, relative to WORKDIR /build
        for name in sources:
            origin = source / name
            if origin.is_dir():  # a directory's contents go into the destination
                shutil.copytree(origin, build / destination, dirs_exist_ok=True)
            elif destination.endswith("/"):
                shutil.copy(origin, build / destination / origin.name)
            else:
                shutil.copy(origin, build / destination)
    for path in [build, *build.rglob("*")]:  # Docker's COPY makes them writable by root
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for command in runs:
        command = command.replace("/wheels", str(wheels))
        done = subprocess.run(
            command, shell=True, cwd=build, env=env, capture_output=True, text=True, timeout=240
        )
        assert done.returncode == 0, done.stderr
    assert _snapshot(source) == before, "the build wrote into the source tree"

    (wheel,) = wheels.glob("provisioning-*.whl")
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", site, wheel],
        check=True,
        timeout=120,
        capture_output=True,
    )
    probe = (
        "import producers; from producers.store.migrate import available;"
        "print(producers.__file__); print(len(available()));"
        "from producers.cli import cli; cli(['db', '--help'])"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    location, migrations, *help_text = run.stdout.splitlines()
    assert location.startswith(str(site)), "provision ran from the source, not the wheel"
    assert int(migrations) == len(list((ROOT / "producers/store/migrations").glob("*.sql")))
    assert any(re.search(r"\bmigrate\b", line) for line in help_text)
