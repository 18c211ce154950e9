"""Benchmark 3: `provision converge` on many file resources, first run and no-change rerun,
as whole processes; against a bare stat + read + sha256 floor and against the peers.

The rerun is what a user's rerun is: answered from the witness of the first run when the
files are as it left them (`workers.shortcut`), in a cache of the bench's own. The
engine's own rerun (`--no-witness`, what a rerun costs when anything changed) is reported
beside it, `converge_engine_rerun_1000_s`.

The floor is a whole Python process too: the same interpreter start, then nothing but the
work a rerun cannot avoid. Runs alternate within each repetition; figures are medians.
Our packages are byte-compiled first, as installing them does (pip compiles a wheel's
modules; the peers are pip-installed): a source tree run with PYTHONDONTWRITEBYTECODE
would otherwise charge every timed run the compiling of every module it imports.
"""

from __future__ import annotations

import compileall
import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench import peers
from bench.errors import BenchError
from bench.files import SUBDIR, write_state
from bench.files import name as file_name
from bench.plan import Plan
from bench.section import Section
from bench.stats import median, ratio

log = logging.getLogger("bench")

FLOOR = """
import hashlib, os, sys
directory = sys.argv[1]
for name in os.listdir(directory):
    path = os.path.join(directory, name)
    os.stat(path)
    with open(path, "rb") as handle:
        hashlib.sha256(handle.read()).hexdigest()
"""


#: The packages `provision converge` runs (the control plane's entry, then the data plane).
PACKAGES = ("contracts", "broker_config", "producers", "workers")


def compile_packages() -> None:
    """Write the bytecode of our packages where Python looks for it (their __pycache__)."""
    for name in PACKAGES:
        spec = importlib.util.find_spec(name)
        for location in (spec.submodule_search_locations or []) if spec else []:
            compileall.compile_dir(location, quiet=1)


def converge_argv(root: Path, state: Path, *flags: str) -> list[str]:
    """`provision converge ROOT STATE --json`, by the installed script when there is one."""
    script = Path(sys.executable).with_name("provision")
    head = [str(script)] if script.exists() else [sys.executable, "-m", "producers"]
    return [*head, "converge", str(root), str(state), "--json", *flags]


def timed(argv: list[str], expect: str = "", env: dict[str, str] | None = None) -> float:
    """Seconds a whole process takes; BenchError if it fails or `expect` is not in its output."""
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900, env=env)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise BenchError(f"{argv[0]} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    if expect and expect not in done.stdout:
        raise BenchError(f"{argv[0]}: expected {expect!r} in its output")
    return elapsed


def converge_once(workdir: Path, state: Path, count: int) -> tuple[float, float, float]:
    """First run on an empty root, then a rerun that finds nothing to do, then the engine's
    own rerun (no witness); seconds each."""
    root = workdir / f"root-{count}"
    shutil.rmtree(root, ignore_errors=True)
    (root / SUBDIR).mkdir(parents=True)
    argv = converge_argv(root, state)
    env = cache_env(workdir)
    first, rerun = timed(argv, env=env), timed(argv, env=env)
    return first, rerun, timed(converge_argv(root, state, "--no-witness"), env=env)


def cache_env(workdir: Path) -> dict[str, str]:
    """Our processes' environment, with the witness cache in the bench's work directory."""
    return {**os.environ, "PROVISION_CACHE_DIR": str(workdir / "cache")}


def check_counts(argv: list[str], changed: int, converged: int, workdir: Path) -> None:
    """The engine really did the work: `changed` files written, `converged` left alone."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900, env=cache_env(workdir))
    counts = json.loads(done.stdout.strip().splitlines()[-1])["counts"]
    if counts.get("changed", 0) != changed or counts.get("converged", 0) != converged:
        raise BenchError(f"converge counts {counts}, expected {changed} changed")


def measure(plan: Plan, workdir: Path, peer_tools: peers.Tools) -> Section:
    small, large = plan.converge_sizes
    workdir.mkdir(parents=True, exist_ok=True)
    states = {n: write_state(workdir / f"state-{n}.json", n) for n in (small, large)}
    compile_packages()
    # A correctness check first, untimed: a fast wrong engine is no result.
    root = workdir / "check"
    (root / SUBDIR).mkdir(parents=True)
    check_counts(converge_argv(root, states[small]), small, 0, workdir)
    check_counts(converge_argv(root, states[small]), 0, small, workdir)
    (root / SUBDIR / file_name(0)).write_text("changed behind its back\n")
    check_counts(converge_argv(root, states[small]), 1, small - 1, workdir)
    runs: dict[str, list[float]] = {}
    for rep in range(plan.converge_reps):
        for n in (small, large):
            first, rerun, engine = converge_once(workdir, states[n], n)
            floor = timed([sys.executable, "-c", FLOOR, str(workdir / f"root-{n}" / SUBDIR)])
            runs.setdefault(f"first_{n}", []).append(first)
            runs.setdefault(f"rerun_{n}", []).append(rerun)
            runs.setdefault(f"engine_rerun_{n}", []).append(engine)
            runs.setdefault(f"floor_{n}", []).append(floor)
        log.info(
            "converge rep %d: first %d %.2fs, rerun %d %.2fs, floor %.3fs",
            rep + 1,
            large,
            runs[f"first_{large}"][-1],
            large,
            runs[f"rerun_{large}"][-1],
            runs[f"floor_{large}"][-1],
        )
    section = Section(
        values={
            "converge_first_200_s": median(runs[f"first_{small}"]),
            "converge_rerun_200_s": median(runs[f"rerun_{small}"]),
            "converge_first_1000_s": median(runs[f"first_{large}"]),
            "converge_rerun_1000_s": median(runs[f"rerun_{large}"]),
            "converge_engine_rerun_1000_s": median(runs[f"engine_rerun_{large}"]),
            "floor_1000_s": median(runs[f"floor_{large}"]),
        },
        detail={"convergence": {"sizes": [small, large], "seconds": runs}},
    )
    section.values["rerun_vs_floor"] = ratio(
        section.values["converge_rerun_1000_s"], section.values["floor_1000_s"]
    )
    section.merge(peers.measure(plan, workdir / "peers", peer_tools))
    ours_first = section.values["converge_first_200_s"]
    ours_rerun = section.values["converge_rerun_200_s"]
    section.values["first_vs_pyinfra"] = ratio(section.values["pyinfra_first_200_s"], ours_first)
    section.values["rerun_vs_pyinfra"] = ratio(section.values["pyinfra_rerun_200_s"], ours_rerun)
    for key in ("first_vs_pyinfra", "rerun_vs_pyinfra"):
        if section.values[key] is None:
            section.notes[key] = section.notes.get("pyinfra_first_200_s", "pyinfra not measured")
    return section
