"""Hostile `provision converge` state files, and hostile arguments to other commands."""

from __future__ import annotations

import json
import uuid
from random import Random
from typing import Any

from bench.hostile import mutate, samples
from bench.hostile.corpus_files import laughs
from bench.hostile.corpus_table import Table
from bench.hostile.model import Ctx, EntryPoint, Input, InputClass

V, L = EntryPoint.CONVERGE, EntryPoint.CLI
MiB = samples.MiB

TABLE = Table()
input_class = TABLE.input_class


def _state(resources: list[Any] | None = None, text: bytes | None = None, check: str = "") -> Input:
    body = text if text is not None else json.dumps({"resources": resources}).encode()
    name = "state.json" if text is None or body[:1] in b"[{" else "state.yaml"
    return Input(
        "",
        V,
        files={name: body, "root/.keep": b""},
        check=check,
        argv=["converge", "{dir}/root", f"{{dir}}/{name}"],
    )


@input_class("converge: template of huge output", V, 6, 1)
def template_output(ctx: Ctx, rng: Random) -> Input:
    """A forty-byte template that renders tens of megabytes."""
    size = rng.randint(32, 64 if ctx.quick else 200) * MiB
    template = rng.choice([f"{{{{ 'x' * {size} }}}}", f"{{{{ 'ab' * {size // 2} }}}}"])
    return _state([{"kind": "file", "path": "/big", "template": template}])


@input_class("converge: nested range template", V, 6, 1)
def template_loops(ctx: Ctx, rng: Random) -> Input:
    """Nested `range`: each bound passes the sandbox's limit, their product runs for ever."""
    depth = rng.randint(2, 4)
    head = "".join(f"{{% for i{d} in range(99999) %}}" for d in range(depth))
    template = head + "x" + "{% endfor %}" * depth
    return _state([{"kind": "file", "path": "/loop", "template": template}])


@input_class("converge: setid modes", V, 20)
def modes(ctx: Ctx, rng: Random) -> Input:
    kind = rng.choice(["file", "directory"])
    mode = rng.choice(["4755", "6755", "7777", "2755", "4777", "6777"])
    return _state([{"kind": kind, "path": "/setid", "mode": mode}])


@input_class("converge: ../NUL/control/bidi paths", V, 30)
def paths(ctx: Ctx, rng: Random) -> Input:
    kind = rng.choice(["file", "directory", "symlink", "absent"])
    spec: dict[str, Any] = {"kind": kind, "path": rng.choice(mutate.PATH_TRICKS)}
    if kind == "symlink":
        spec["target"] = rng.choice(["/etc/shadow", "../../../../etc", "/proc/self/root"])
    return _state([spec])


@input_class("converge: setsid child outlives timeout", V, 6, 1)
def setsid_child(ctx: Ctx, rng: Random) -> Input:
    """A command whose child starts its own session, then the command times out."""
    marker = f"3{rng.randint(10_000, 99_999)}.{rng.randint(1, 999)}"
    script = f"setsid sleep {marker} </dev/null >/dev/null 2>&1 & sleep 30"
    spec = {"kind": "command", "argv": [script], "shell": True, "timeout_s": 1}
    return _state([spec], check=f"setsid:sleep {marker}")


@input_class("converge: command timeout ceiling", V, 15)
def timeout_ceiling(ctx: Ctx, rng: Random) -> Input:
    timeout = rng.choice([86_400, 86_400 * 30, 1e9, 1e300])
    return _state([{"kind": "command", "argv": ["true"], "timeout_s": timeout}])


@input_class("converge: invalid UTF-8", V, 20)
def state_utf8(ctx: Ctx, rng: Random) -> Input:
    return _state(text=mutate.invalid_utf8(rng, json.dumps(samples.state_file()).encode()))


@input_class("converge: deeply nested document", V, 20)
def state_nested(ctx: Ctx, rng: Random) -> Input:
    return _state(text=mutate.nested(rng, 1_000, 50_000))


@input_class("converge: billion laughs", V, 6, 1)
def state_laughs(ctx: Ctx, rng: Random) -> Input:
    text = laughs(rng, rng.randint(8, 10)) + "\nresources: []\n"
    return _state(text=text.encode())


#: Arguments whose only right answer is a usage error (exit 2, naming the option).
BAD_ARGS: list[list[str]] = [
    ["apply", "--rev", "-1"],
    ["apply", "--rev", "99999999999999999999999999"],
    ["apply", "--rev", "1e9"],
    ["apply", "--rev", "latest\x1b[2J\u202e"],
    ["apply", "--rev", "1", "--wait", "--timeout", "nan"],
    ["apply", "--rev", "1", "--wait", "--timeout", "-5"],
    ["apply", "--rev", "1", "--wait", "--timeout", "1e309"],
    ["apply", "--selector", "===\u202e"],
    ["apply", "--selector", "region=" + "x" * 100_000],
    ["agent", "--target", "x", "--credentials", "/nonexistent", "--interval", "nan", "--once"],
    ["agent", "--target", "x", "--credentials", "/nonexistent", "--splay", "-1", "--once"],
    ["agent", "--target", "../../x", "--credentials", "{dir}", "--once"],
    ["state", "show", "../../etc/passwd", "--rev", "-3"],
    ["state", "diff", "-1", "99999999999999999999"],
    ["converge", "{dir}", "{dir}/nonexistent.yaml"],
    ["status", "\x1b[2J" + "\u202e" * 1000],
]
#: Commands and options that take a value, and values of every wrong kind for them.
NOISY_COMMANDS: list[list[str]] = [
    ["apply", "--rev"],
    ["apply", "--timeout"],
    ["state", "show", "x", "--rev"],
    ["status"],
    ["rollout", "status"],
    ["dlq", "show"],
    ["inventory", "show"],
]
NOISE = [
    "",
    "-",
    "--",
    "nan",
    "-inf",
    "0x41",
    "\u202e",
    "\x7f",
    "1" * 5000,
    "%s%n",
    "$(true)",
    "../" * 50,
]


@input_class("cli: arguments only a usage error fits", L, 40)
def bad_args(ctx: Ctx, rng: Random) -> Input:
    return Input("", L, argv=list(rng.choice(BAD_ARGS)))


@input_class("cli: options with wrong values", L, 40)
def arg_noise(ctx: Ctx, rng: Random) -> Input:
    """Each command with options given values of every wrong kind."""
    values = [*NOISE, str(uuid.uuid4()) + "\n"]
    return Input("", L, argv=[*rng.choice(NOISY_COMMANDS), rng.choice(values)])


def classes() -> list[InputClass]:
    return TABLE.classes()
