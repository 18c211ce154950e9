"""Hostile `provision apply` files and source-of-truth directories (`provision state publish`)."""

from __future__ import annotations

import json
from random import Random
from typing import Any

import yaml

from bench.hostile import mutate, samples
from bench.hostile.model import Ctx, EntryPoint, Input, InputClass

A, S = EntryPoint.APPLY, EntryPoint.TRUTH
MiB = 2**20
APPLY_ARGV = ["apply", "{dir}/change.yaml"]
TRUTH_ARGV = ["state", "publish", "{dir}/truth", "-m", "hostile input"]


def _yaml(doc: Any) -> bytes:
    return yaml.safe_dump(doc, sort_keys=False, width=10**9).encode()


def _apply(text: bytes | str, name: str = "change.yaml") -> Input:
    return Input("", A, files={name: text}, argv=["apply", f"{{dir}}/{name}"])


def laughs(rng: Random, levels: int) -> str:
    """Billion laughs: each level a list of ten aliases of the one before."""
    lines = ['l0: &l0 "lol"']
    for level in range(1, levels + 1):
        refs = ", ".join([f"*l{level - 1}"] * rng.randint(9, 12))
        lines.append(f"l{level}: &l{level} [{refs}]")
    return "\n".join(lines)


def alias_amplification(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    """A small file that names one big string thousands of times: a huge event."""
    out = []
    for _ in range(n):
        chunk = "A" * rng.randint(2_000, 8_000)
        copies = rng.randint(1_000, 3_000 if ctx.quick else 20_000)
        argv = "[&s " + json.dumps(chunk) + ", " + ", ".join(["*s"] * copies) + "]"
        base = _yaml({"targets": [samples.target(ctx)]}).decode()
        text = base + f'resources:\n  - {{kind: command, argv: {argv}, unless: ["true"]}}\n'
        out.append(_apply(text))
    return out


def billion_laughs(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    out = []
    for _ in range(n):
        doc = _yaml(samples.change_file(ctx)).decode()
        out.append(_apply(laughs(rng, rng.randint(8, 10)) + "\n" + doc))
    return out


def apply_utf8(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    return [_apply(mutate.invalid_utf8(rng, _yaml(samples.change_file(ctx)))) for _ in range(n)]


def apply_nested(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    out = []
    for _ in range(n):
        name = rng.choice(["change.json", "change.yaml"])
        out.append(_apply(mutate.nested(rng, 1_000, 50_000), name))
    return out


def apply_huge(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    cap = 3 * MiB if ctx.quick else 24 * MiB
    out = []
    for _ in range(n):
        res = samples.file_resource(content="A" * rng.randint(MiB + 1024, cap))
        out.append(_apply(_yaml(samples.change_file(ctx, resources=[res]))))
    return out


def unreadable(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    """Not a regular readable file: a directory, a FIFO (blocks a naive open), a loop, nothing."""
    kinds: list[str] = ["dir", "fifo", "symlink:change.yaml", "symlink:/nonexistent", "missing"]
    out = []
    for _ in range(n):
        kind = rng.choice(kinds)
        files: dict[str, bytes | str] = {} if kind == "missing" else {"change.yaml": kind}
        out.append(Input("", A, files=files, argv=list(APPLY_ARGV)))
    return out


def python_tags(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    tags = [
        "!!python/object/apply:os.system ['true']",
        "!!python/name:os.system",
        "!!python/object/new:subprocess.Popen [['true']]",
        "!!binary aGVsbG8=",
        "!!set {a, b}",
    ]
    doc = _yaml(samples.change_file(ctx)).decode()
    return [_apply(f"{doc}\nlabels: {rng.choice(tags)}\n") for _ in range(n)]


def apply_modes_paths(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    out = []
    for _ in range(n):
        if rng.random() < 0.5:
            res = samples.file_resource(mode=rng.choice(["4755", "6755", "7777", "2755"]))
        else:
            res = samples.file_resource(rng.choice(mutate.PATH_TRICKS))
        out.append(_apply(_yaml(samples.change_file(ctx, resources=[res]))))
    return out


def _truth(ctx: Ctx, **changed: bytes | str) -> Input:
    files: dict[str, bytes | str] = {f"truth/{k}": v for k, v in samples.truth_files(ctx).items()}
    files.update({f"truth/{k}": v for k, v in changed.items()})
    return Input("", S, files=files, argv=list(TRUTH_ARGV))


def truth_laughs(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    out = []
    for _ in range(n):
        bomb = laughs(rng, rng.randint(8, 10)).replace("\n", "\n  ")
        out.append(_truth(ctx, **{"environments/dev.yaml": f"values:\n  {bomb}\n"}))
    return out


def truth_utf8(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    out = []
    for _ in range(n):
        name, text = rng.choice(list(samples.truth_files(ctx).items()))
        out.append(_truth(ctx, **{name: mutate.invalid_utf8(rng, text.encode())}))
    return out


def truth_symlinks(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    """A role or overlay that is a link to a file (or directory) outside the source tree."""
    outside = "outside.yaml"  # written beside truth/, so the link leaves the tree
    out = []
    for _ in range(n):
        name = rng.choice(["roles/web.yaml", "environments/dev.yaml", "inventory.yaml"])
        dest = rng.choice(["/etc/passwd", "/etc/hostname", f"{{dir}}/{outside}"])
        item = _truth(ctx, **{name: f"symlink:{dest}"})
        item.files[outside] = samples.truth_files(ctx)[name].encode()
        out.append(item)
    return out


def truth_nested(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    return [_truth(ctx, **{"roles/web.yaml": mutate.nested(rng, 1_000, 50_000)}) for _ in range(n)]


def truth_huge(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    cap = 3 * MiB if ctx.quick else 24 * MiB
    out = []
    for _ in range(n):
        content = json.dumps("A" * rng.randint(MiB + 1024, cap))
        role = f"resources:\n  - kind: file\n    path: /etc/app.conf\n    content: {content}\n"
        out.append(_truth(ctx, **{"roles/web.yaml": role}))
    return out


def classes() -> list[InputClass]:
    return [
        InputClass("apply: YAML alias amplification", A, alias_amplification, 12, 1),
        InputClass("apply: billion laughs", A, billion_laughs, 6, 1),
        InputClass("apply: invalid UTF-8", A, apply_utf8, 20),
        InputClass("apply: deeply nested document", A, apply_nested, 20),
        InputClass("apply: file over 1 MiB", A, apply_huge, 6, 1),
        InputClass("apply: unreadable path (dir/FIFO/loop)", A, unreadable, 15),
        InputClass("apply: python YAML tags", A, python_tags, 15),
        InputClass("apply: setid modes and path tricks", A, apply_modes_paths, 20),
        InputClass("truth: billion laughs values", S, truth_laughs, 6, 1),
        InputClass("truth: invalid UTF-8", S, truth_utf8, 20),
        InputClass("truth: symlinks outside the tree", S, truth_symlinks, 20),
        InputClass("truth: deeply nested YAML", S, truth_nested, 15),
        InputClass("truth: file over 1 MiB", S, truth_huge, 6, 1),
    ]
