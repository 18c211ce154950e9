"""`provision`'s commands are imported on first use: the map that says where each one lives
must be complete and true, and a command must not load the others."""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from importlib import import_module
from pathlib import Path

import click
import pytest

import producers.cli
from producers.cli import COMMANDS, cli
from producers.entry import DATA_PLANE


def test_every_command_is_in_the_map_under_the_module_that_defines_it() -> None:
    for module in pkgutil.iter_modules(producers.cli.__path__):
        import_module(f"producers.cli.{module.name}")
    defined = {
        name: command.callback.__module__
        for name, command in cli.commands.items()
        if name not in DATA_PLANE and command.callback is not None
    }
    assert defined == COMMANDS


def test_the_help_lists_every_command_and_each_resolves() -> None:
    ctx = click.Context(cli, info_name="provision")
    names = cli.list_commands(ctx)
    assert set(names) == set(COMMANDS) | DATA_PLANE
    for name in names:
        assert cli.get_command(ctx, name) is not None, name
    assert cli.get_command(ctx, "no-such-command") is None


@pytest.mark.parametrize(
    ("command", "loaded"),
    [
        ("db", ["producers.cli.db"]),
        # an operator's most frequent question: no Redis, broker or signing on its path
        ("status", ["producers.cli.changes", "producers.cli.db", "producers.cli.oncall"]),
    ],
)
def test_a_command_loads_its_own_module_and_not_the_others(command: str, loaded: list[str]) -> None:
    probe = (
        "import sys, click\n"
        "from producers.cli import cli\n"
        f"cli.get_command(click.Context(cli), {command!r})\n"
        "print(sorted(m for m in sys.modules if m.startswith('producers.cli.')))\n"
        "print(sorted(m for m in ('redis', 'pika', 'producers.messaging.publisher')"
        " if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    modules, heavy = done.stdout.splitlines()
    commands = sorted(m for m in ast.literal_eval(modules) if m in set(COMMANDS.values()))
    assert commands == loaded
    assert heavy == "[]"


def _entry(*args: str, before: str = "") -> subprocess.CompletedProcess[str]:
    """`provision ARGS`, as the console script pip writes runs it (`before` runs first)."""
    script = f"{before}\nimport sys\nfrom producers.entry import main\nsys.exit(main())\n"
    return subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=120
    )


def test_a_data_plane_command_runs_in_this_process_without_the_control_plane(
    tmp_path: Path,
) -> None:
    (tmp_path / "root").mkdir()
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"resources": [{"kind": "file", "path": "/a", "content": "x"}]}))
    # An exit hook of the console script's process: an exec into a second interpreter
    # would drop it, so its line proves the command ran here, and says what it imported.
    hook = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('LOADED', sorted(m for m in sys.modules"
        " if m.split('.')[0] == 'producers'), file=sys.stderr))\n"
    )
    done = _entry("converge", str(tmp_path / "root"), str(state), "--json", before=hook)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["counts"]["changed"] == 1
    assert (tmp_path / "root" / "a").read_text() == "x"
    loaded = next(line for line in done.stderr.splitlines() if line.startswith("LOADED "))
    assert ast.literal_eval(loaded.removeprefix("LOADED ")) == ["producers", "producers.entry"]


def test_the_data_plane_exit_code_and_errors_pass_through_the_hand_over(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"resources": [{"kind": "file", "path": "/a", "mode": "999"}]}))
    done = _entry("converge", str(tmp_path / "root"), str(state), "--json")
    assert done.returncode == 2, done.stderr
    assert "mode" in done.stderr
    assert not (tmp_path / "root" / "a").exists()
