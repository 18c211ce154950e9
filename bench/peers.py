"""The engine's peers, pyinfra (@local, files.put) and Ansible (-c local, copy), on the same files.

They live in a virtualenv of their own (bench/.peers/venv, made by --install-peers), so
their dependencies never meet ours. Each converges the same files as our engine, first
run and no-change rerun, as whole processes, as a user would run them.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError
from bench.files import MODE, write_sources
from bench.plan import Plan
from bench.section import Section
from bench.stats import median

log = logging.getLogger("bench")

VENV = Path(__file__).resolve().parent / ".peers" / "venv"
#: What --install-peers installs; the versions measured are recorded in results.json.
REQUIREMENTS = ("pyinfra>=3,<4", "ansible-core>=2.16,<3")

DEPLOY = """
import os
from pyinfra.operations import files

source, dest = os.environ["BENCH_SRC"], os.environ["BENCH_DEST"]
for name in sorted(os.listdir(source)):
    files.put(
        name=f"put {name}",
        src=os.path.join(source, name),
        dest=os.path.join(dest, name),
        mode=os.environ["BENCH_MODE"],
    )
"""

PLAYBOOK = """
- hosts: all
  gather_facts: false
  tasks:
    - name: put files
      ansible.builtin.copy:
        src: "{{ bench_src }}/{{ item }}"
        dest: "{{ bench_dest }}/{{ item }}"
        mode: "{{ bench_mode }}"
      loop: "{{ bench_files }}"
"""


@dataclass(frozen=True)
class Tools:
    """The peers' executables, or why they are missing."""

    pyinfra: Path | None
    ansible_playbook: Path | None
    versions: dict[str, str]
    missing: str = ""


def find() -> Tools:
    """The peers installed in bench/.peers/venv, if --install-peers has run."""
    pyinfra = VENV / "bin" / "pyinfra"
    ansible = VENV / "bin" / "ansible-playbook"
    if not (pyinfra.exists() and ansible.exists()):
        return Tools(None, None, {}, "peers not installed: run `python -m bench --install-peers`")
    return Tools(pyinfra, ansible, _versions())


def skipped(reason: str) -> Tools:
    return Tools(None, None, {}, reason)


def install() -> Tools:
    """Make bench/.peers/venv and pip install pyinfra and ansible-core into it."""
    if not (VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    done = subprocess.run(
        [str(VENV / "bin" / "pip"), "install", "--quiet", *REQUIREMENTS],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        return skipped(f"--install-peers failed: {done.stderr.strip()[-300:]}")
    return find()


def _versions() -> dict[str, str]:
    done = subprocess.run(
        [str(VENV / "bin" / "pip"), "list", "--format", "json"], capture_output=True, text=True
    )
    wanted = {"pyinfra", "ansible-core"}
    try:
        return {p["name"]: p["version"] for p in json.loads(done.stdout) if p["name"] in wanted}
    except (ValueError, KeyError):
        return {}


def _run(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        argv, capture_output=True, text=True, env={**os.environ, **env}, cwd=cwd, timeout=1800
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise BenchError(f"{Path(argv[0]).name} exited {done.returncode}: {done.stdout[-400:]}")
    return elapsed


def run_pyinfra(tools: Tools, work: Path, source: Path) -> tuple[float, float]:
    """`pyinfra @local deploy.py -y` twice on a fresh directory: first run, rerun."""
    assert tools.pyinfra is not None
    dest = work / "pyinfra-dest"
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    deploy = work / "deploy.py"
    deploy.write_text(DEPLOY)
    env = {"BENCH_SRC": str(source), "BENCH_DEST": str(dest), "BENCH_MODE": MODE[1:]}
    argv = [str(tools.pyinfra), "@local", str(deploy), "-y"]
    first = _run(argv, env, work)
    rerun = _run(argv, env, work)
    _same_files(source, dest)
    return first, rerun


def run_ansible(tools: Tools, work: Path, source: Path, names: list[str]) -> tuple[float, float]:
    """`ansible-playbook -c local` (copy, in a loop) twice on a fresh directory."""
    assert tools.ansible_playbook is not None
    dest = work / "ansible-dest"
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    (work / "play.yml").write_text(PLAYBOOK)
    variables = {"bench_src": str(source), "bench_dest": str(dest), "bench_mode": MODE}
    (work / "vars.json").write_text(json.dumps({**variables, "bench_files": names}))
    home = work / "ansible-home"
    env = {
        "ANSIBLE_HOME": str(home),
        "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
        "ANSIBLE_PYTHON_INTERPRETER": str(VENV / "bin" / "python"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
    }
    argv = [
        str(tools.ansible_playbook),
        "-i",
        "localhost,",
        "-c",
        "local",
        str(work / "play.yml"),
        "-e",
        f"@{work / 'vars.json'}",
    ]
    first = _run(argv, env, work)
    rerun = _run(argv, env, work)
    _same_files(source, dest)
    return first, rerun


def _same_files(source: Path, dest: Path) -> None:
    for path in source.iterdir():
        if (dest / path.name).read_bytes() != path.read_bytes():
            raise BenchError(f"peer left {dest / path.name} different from its source")


def measure(plan: Plan, work: Path, tools: Tools) -> Section:
    """First and rerun seconds of pyinfra and Ansible on the small file count, or notes."""
    count = plan.converge_sizes[0]
    keys: tuple[str, ...] = ("pyinfra_first_200_s", "pyinfra_rerun_200_s")
    keys += ("ansible_first_200_s", "ansible_rerun_200_s")
    section = Section(values=dict.fromkeys(keys))
    if tools.pyinfra is None or tools.ansible_playbook is None:
        section.notes.update(dict.fromkeys(keys, tools.missing))
        return section
    work.mkdir(parents=True, exist_ok=True)
    names = write_sources(work / "source", count)
    runs: dict[str, list[float]] = {key: [] for key in keys}
    contenders = [("pyinfra", lambda: run_pyinfra(tools, work, work / "source"))]
    if plan.ansible:
        contenders.append(("ansible", lambda: run_ansible(tools, work, work / "source", names)))
    else:
        why = "Ansible runs in the full run only (about 4 minutes, most of --quick's budget)"
        section.notes.update(dict.fromkeys(("ansible_first_200_s", "ansible_rerun_200_s"), why))
    for rep in range(plan.peer_reps):
        for peer, run in contenders:
            try:
                first, rerun = run()
            except (BenchError, subprocess.TimeoutExpired) as exc:
                section.notes[f"{peer}_first_200_s"] = f"{peer} failed: {exc}"
                continue
            runs[f"{peer}_first_200_s"].append(first)
            runs[f"{peer}_rerun_200_s"].append(rerun)
            log.info("peers rep %d %s: first %.1fs, rerun %.1fs", rep + 1, peer, first, rerun)
    section.values = {key: median(values) for key, values in runs.items()}
    section.detail = {"peers": {"files": count, "versions": tools.versions, "seconds": runs}}
    return section
