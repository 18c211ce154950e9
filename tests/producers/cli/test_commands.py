"""`provision`'s commands are imported on first use: the map that says where each one lives
must be complete and true, and a command must not load the others."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from importlib import import_module

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
