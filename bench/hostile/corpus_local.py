"""Hostile `provision converge` state files, and hostile arguments to other commands."""

from __future__ import annotations

import json
import uuid
from random import Random
from typing import Any

from bench.hostile import mutate, samples
from bench.hostile.corpus_files import laughs
from bench.hostile.model import Ctx, EntryPoint, Input, InputClass

V, L = EntryPoint.CONVERGE, EntryPoint.CLI
MiB = 2**20


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


def template_output(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    """A forty-byte template that renders tens of megabytes."""
    out = []
    for _ in range(n):
        size = rng.randint(32, 64 if ctx.quick else 200) * MiB
        template = rng.choice([f"{{{{ 'x' * {size} }}}}", f"{{{{ 'ab' * {size // 2} }}}}"])
        out.append(_state([{"kind": "file", "path": "/big", "template": template}]))
    return out


def template_loops(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    """Nested `range`: each bound passes the sandbox's limit, their product runs for ever."""
    out = []
    for _ in range(n):
        depth = rng.randint(2, 4)
        head = "".join(f"{{% for i{d} in range(99999) %}}" for d in range(depth))
        template = head + "x" + "{% endfor %}" * depth
        out.append(_state([{"kind": "file", "path": "/loop", "template": template}]))
    return out


def modes(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    out = []
    for _ in range(n):
        kind = rng.choice(["file", "directory"])
        mode = rng.choice(["4755", "6755", "7777", "2755", "4777", "6777"])
        out.append(_state([{"kind": kind, "path": "/setid", "mode": mode}]))
    return out


def paths(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    out = []
    for _ in range(n):
        kind = rng.choice(["file", "directory", "symlink", "absent"])
        spec: dict[str, Any] = {"kind": kind, "path": rng.choice(mutate.PATH_TRICKS)}
        if kind == "symlink":
            spec["target"] = rng.choice(["/etc/shadow", "../../../../etc", "/proc/self/root"])
        out.append(_state([spec]))
    return out


def setsid_child(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    """A command whose child starts its own session, then the command times out."""
    out = []
    for _ in range(n):
        marker = f"3{rng.randint(10_000, 99_999)}.{rng.randint(1, 999)}"
        script = f"setsid sleep {marker} </dev/null >/dev/null 2>&1 & sleep 30"
        spec = {"kind": "command", "argv": [script], "shell": True, "timeout_s": 1}
        out.append(_state([spec], check=f"setsid:sleep {marker}"))
    return out


def timeout_ceiling(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    out = []
    for _ in range(n):
        timeout = rng.choice([86_400, 86_400 * 30, 1e9, 1e300])
        out.append(_state([{"kind": "command", "argv": ["true"], "timeout_s": timeout}]))
    return out


def state_utf8(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    text = json.dumps(samples.state_file()).encode()
    return [_state(text=mutate.invalid_utf8(rng, text)) for _ in range(n)]


def state_nested(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    return [_state(text=mutate.nested(rng, 1_000, 50_000)) for _ in range(n)]


def state_laughs(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    out = []
    for _ in range(n):
        text = laughs(rng, rng.randint(8, 10)) + "\nresources: []\n"
        out.append(_state(text=text.encode()))
    return out


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


def bad_args(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    return [Input("", L, argv=list(rng.choice(BAD_ARGS))) for _ in range(n)]


def arg_noise(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    """Each command with options given values of every wrong kind."""
    commands = [
        ["apply", "--rev"],
        ["apply", "--timeout"],
        ["state", "show", "x", "--rev"],
        ["status"],
        ["rollout", "status"],
        ["dlq", "show"],
        ["inventory", "show"],
    ]
    values = [
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
        str(uuid.uuid4()) + "\n",
    ]
    return [Input("", L, argv=[*rng.choice(commands), rng.choice(values)]) for _ in range(n)]


def classes() -> list[InputClass]:
    return [
        InputClass("converge: template of huge output", V, template_output, 6, 1),
        InputClass("converge: nested range template", V, template_loops, 6, 1),
        InputClass("converge: setid modes", V, modes, 20),
        InputClass("converge: ../NUL/control/bidi paths", V, paths, 30),
        InputClass("converge: setsid child outlives timeout", V, setsid_child, 6, 1),
        InputClass("converge: command timeout ceiling", V, timeout_ceiling, 15),
        InputClass("converge: invalid UTF-8", V, state_utf8, 20),
        InputClass("converge: deeply nested document", V, state_nested, 20),
        InputClass("converge: billion laughs", V, state_laughs, 6, 1),
        InputClass("cli: arguments only a usage error fits", L, bad_args, 40),
        InputClass("cli: options with wrong values", L, arg_noise, 40),
    ]
