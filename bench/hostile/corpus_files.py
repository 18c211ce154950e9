"""Hostile `provision apply` files and source-of-truth directories (`provision state publish`)."""

from __future__ import annotations

import json
from random import Random
from typing import Any

import yaml

from bench.hostile import mutate, samples
from bench.hostile.corpus_table import Table
from bench.hostile.model import Ctx, EntryPoint, Input, InputClass

A, S = EntryPoint.APPLY, EntryPoint.TRUTH
MiB = samples.MiB
APPLY_ARGV = ["apply", "{dir}/change.yaml"]
TRUTH_ARGV = ["state", "publish", "{dir}/truth", "-m", "hostile input"]
#: Not a regular readable file: a directory, a FIFO (blocks a naive open), a loop, nothing.
UNREADABLE = ["dir", "fifo", "symlink:change.yaml", "symlink:/nonexistent", "missing"]
PYTHON_TAGS = [
    "!!python/object/apply:os.system ['true']",
    "!!python/name:os.system",
    "!!python/object/new:subprocess.Popen [['true']]",
    "!!binary aGVsbG8=",
    "!!set {a, b}",
]
#: Written beside truth/, so a link to it leaves the source tree.
OUTSIDE = "outside.yaml"

TABLE = Table()
input_class = TABLE.input_class


def _yaml(doc: Any) -> bytes:
    return yaml.safe_dump(doc, sort_keys=False, width=10**9).encode()


def _apply(text: bytes | str, name: str = "change.yaml") -> Input:
    return Input("", A, files={name: text}, argv=["apply", f"{{dir}}/{name}"])


def _change(ctx: Ctx, **override: Any) -> str:
    return _yaml(samples.change_file(ctx, **override)).decode()


def laughs(rng: Random, levels: int) -> str:
    """Billion laughs: each level a list of ten aliases of the one before."""
    lines = ['l0: &l0 "lol"']
    for level in range(1, levels + 1):
        refs = ", ".join([f"*l{level - 1}"] * rng.randint(9, 12))
        lines.append(f"l{level}: &l{level} [{refs}]")
    return "\n".join(lines)


@input_class("apply: YAML alias amplification", A, 12, 1)
def alias_amplification(ctx: Ctx, rng: Random) -> Input:
    """A small file that names one big string thousands of times: a huge event."""
    chunk = "A" * rng.randint(2_000, 8_000)
    copies = rng.randint(1_000, 3_000 if ctx.quick else 20_000)
    argv = "[&s " + json.dumps(chunk) + ", " + ", ".join(["*s"] * copies) + "]"
    base = _yaml({"targets": [samples.target(ctx)]}).decode()
    return _apply(base + f'resources:\n  - {{kind: command, argv: {argv}, unless: ["true"]}}\n')


@input_class("apply: billion laughs", A, 6, 1)
def billion_laughs(ctx: Ctx, rng: Random) -> Input:
    return _apply(laughs(rng, rng.randint(8, 10)) + "\n" + _change(ctx))


@input_class("apply: invalid UTF-8", A, 20)
def apply_utf8(ctx: Ctx, rng: Random) -> Input:
    return _apply(mutate.invalid_utf8(rng, _change(ctx).encode()))


@input_class("apply: deeply nested document", A, 20)
def apply_nested(ctx: Ctx, rng: Random) -> Input:
    name = rng.choice(["change.json", "change.yaml"])
    return _apply(mutate.nested(rng, 1_000, 50_000), name)


@input_class("apply: file over 1 MiB", A, 6, 1)
def apply_huge(ctx: Ctx, rng: Random) -> Input:
    res = samples.file_resource(content=samples.huge_text(ctx, rng, quick_mib=3, full_mib=24))
    return _apply(_change(ctx, resources=[res]))


@input_class("apply: unreadable path (dir/FIFO/loop)", A, 15)
def unreadable(ctx: Ctx, rng: Random) -> Input:
    kind = rng.choice(UNREADABLE)
    files: dict[str, bytes | str] = {} if kind == "missing" else {"change.yaml": kind}
    return Input("", A, files=files, argv=list(APPLY_ARGV))


@input_class("apply: python YAML tags", A, 15)
def python_tags(ctx: Ctx, rng: Random) -> Input:
    return _apply(f"{_change(ctx)}\nlabels: {rng.choice(PYTHON_TAGS)}\n")


@input_class("apply: setid modes and path tricks", A, 20)
def apply_modes_paths(ctx: Ctx, rng: Random) -> Input:
    if rng.random() < 0.5:
        res = samples.file_resource(mode=rng.choice(["4755", "6755", "7777", "2755"]))
    else:
        res = samples.file_resource(rng.choice(mutate.PATH_TRICKS))
    return _apply(_change(ctx, resources=[res]))


def _truth(ctx: Ctx, **changed: bytes | str) -> Input:
    files: dict[str, bytes | str] = {f"truth/{k}": v for k, v in samples.truth_files(ctx).items()}
    files.update({f"truth/{k}": v for k, v in changed.items()})
    return Input("", S, files=files, argv=list(TRUTH_ARGV))


@input_class("truth: billion laughs values", S, 6, 1)
def truth_laughs(ctx: Ctx, rng: Random) -> Input:
    bomb = laughs(rng, rng.randint(8, 10)).replace("\n", "\n  ")
    return _truth(ctx, **{"environments/dev.yaml": f"values:\n  {bomb}\n"})


@input_class("truth: invalid UTF-8", S, 20)
def truth_utf8(ctx: Ctx, rng: Random) -> Input:
    name, text = rng.choice(list(samples.truth_files(ctx).items()))
    return _truth(ctx, **{name: mutate.invalid_utf8(rng, text.encode())})


@input_class("truth: symlinks outside the tree", S, 20)
def truth_symlinks(ctx: Ctx, rng: Random) -> Input:
    """A role or overlay that is a link to a file (or directory) outside the source tree."""
    name = rng.choice(["roles/web.yaml", "environments/dev.yaml", "inventory.yaml"])
    dest = rng.choice(["/etc/passwd", "/etc/hostname", f"{{dir}}/{OUTSIDE}"])
    item = _truth(ctx, **{name: f"symlink:{dest}"})
    item.files[OUTSIDE] = samples.truth_files(ctx)[name].encode()
    return item


@input_class("truth: deeply nested YAML", S, 15)
def truth_nested(ctx: Ctx, rng: Random) -> Input:
    return _truth(ctx, **{"roles/web.yaml": mutate.nested(rng, 1_000, 50_000)})


@input_class("truth: file over 1 MiB", S, 6, 1)
def truth_huge(ctx: Ctx, rng: Random) -> Input:
    content = json.dumps(samples.huge_text(ctx, rng, quick_mib=3, full_mib=24))
    role = f"resources:\n  - kind: file\n    path: /etc/app.conf\n    content: {content}\n"
    return _truth(ctx, **{"roles/web.yaml": role})


def classes() -> list[InputClass]:
    return TABLE.classes()
