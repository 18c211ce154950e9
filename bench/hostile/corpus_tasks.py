"""Hostile Celery protocol-2 task messages, made by hand and put on a region queue as guest."""

from __future__ import annotations

import json
from random import Random
from typing import Any

from bench.hostile import mutate, samples
from bench.hostile.corpus_events import _invalid
from bench.hostile.model import ROOTS, Ctx, EntryPoint, Input, InputClass
from contracts import ChangeRequest

T = EntryPoint.REGION
MiB = 2**20


def _task(
    ctx: Ctx,
    rng: Random,
    body: bytes,
    headers: dict[str, Any] | None = None,
    change_id: str | None = None,
    **props: Any,
) -> Input:
    """`ident` (set when sent) becomes the task id, so a dead letter names its input."""
    region = rng.choice(ctx.regions)
    props = {"content_type": "application/json", "content_encoding": "utf-8", **props}
    headers = samples.task_headers("set-when-sent") if headers is None else headers
    return Input("", T, body, headers, props, f"{region}.bench.victim", watch=change_id)


def _valid(ctx: Ctx, rng: Random, embed: dict[str, Any] | None = None, **req: Any) -> Input:
    request = samples.request(ctx, **req)
    body = samples.task_body(request, embed)
    return _task(ctx, rng, body, change_id=request["change_id"])


def shapes(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    bodies: list[Any] = [
        {"a": 1},
        {},
        [],
        [1],
        [[], {}],
        "x",
        None,
        1,
        [[], {}, {}, {}],
        {"args": []},
        [{}, [], {}],
        [[], [], []],
        [None, None, None],
        [[], {"request": None}, None],
    ]
    return [_task(ctx, rng, json.dumps(rng.choice(bodies)).encode()) for _ in range(n)]


def unknown_names(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    names = [
        "celery.accumulate",
        "celery.backend_cleanup",
        "celery.chord_unlock",
        "celery.group",
        "celery.chain",
        "celery.map",
        "os.system",
        "provision.converge2",
        "",
        "x" * 500,
    ]
    out = []
    for _ in range(n):
        item = _valid(ctx, rng)
        item.headers["task"] = rng.choice(names)
        out.append(item)
    return out


def embedded(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    def sig(name: str) -> dict[str, Any]:
        return {
            "task": name,
            "args": [],
            "kwargs": {},
            "options": {},
            "subtask_type": None,
            "immutable": False,
        }

    out = []
    for _ in range(n):
        key = rng.choice(["callbacks", "errbacks", "chain"])
        name = rng.choice(["celery.accumulate", "provision.converge", "celery.backend_cleanup"])
        embed = {**samples.EMBED, key: [sig(name)]}
        if rng.random() < 0.3:
            embed["chord"] = sig(name)
        out.append(_valid(ctx, rng, embed))
    return out


def eta(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    out = []
    for _ in range(n):
        item = _valid(ctx, rng)
        year = rng.choice([2099, 2500, 9999])
        item.headers["eta"] = f"{year}-{rng.randint(1, 12):02d}-01T00:00:00+00:00"
        out.append(item)
    return out


def header_types(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    """Headers Celery acts on (retries, time limits, ETA, expiry, language), mistyped."""
    keys = ["retries", "timelimit", "eta", "expires", "lang"]
    values = [[1, 2, 3], {"a": 1}, "x" * 5000, -1, "9" * 40, "not-a-date", [None], True]
    out = []
    for _ in range(n):
        item = _valid(ctx, rng)
        item.headers[rng.choice(keys)] = rng.choice(values)
        out.append(item)
    return out


def missing_headers(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    """Without the headers that make a message a task: its id, its name, its language."""
    out = []
    for _ in range(n):
        item = _valid(ctx, rng)
        for key in rng.sample(["id", "task", "lang"], rng.randint(1, 2)):
            item.headers.pop(key, None)
        out.append(item)
    return out


def request_types(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    base = samples.request(ctx)
    make = lambda r: mutate.wrong_type(r, base)  # noqa: E731
    out = []
    for _ in range(n):
        request = _invalid(ChangeRequest, make, rng)
        out.append(_task(ctx, rng, samples.task_body(request), change_id=base["change_id"]))
    return out


def nested(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    return [_task(ctx, rng, mutate.nested(rng)) for _ in range(n)]


def bad_utf8(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    out = []
    for _ in range(n):
        item = _valid(ctx, rng)
        item.body = mutate.invalid_utf8(rng, item.body)
        out.append(item)
    return out


def huge(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    cap = 2 * MiB if ctx.quick else 8 * MiB
    out = []
    for _ in range(n):
        res = samples.file_resource(content="A" * rng.randint(MiB + 1024, cap))
        out.append(_valid(ctx, rng, desired={"resources": [res]}))
    return out


def outside(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    out = []
    for _ in range(n):
        address, path = samples.outside_root(ctx, rng)
        victim = {**samples.target(ctx), "address": address}
        desired = {"resources": [samples.file_resource(path)]}
        out.append(_valid(ctx, rng, target=victim, desired=desired))
    return out


def classes() -> list[InputClass]:
    return [
        InputClass('task: {"a":1}-like bodies', T, shapes, 40),
        InputClass("task: unknown task names", T, unknown_names, 40),
        InputClass("task: embedded callbacks/chains", T, embedded, 40),
        InputClass("task: ETA in 2099+", T, eta, 30),
        InputClass("task: wrong header types", T, header_types, 60),
        InputClass("task: missing headers", T, missing_headers, 30),
        InputClass("task: invalid change request", T, request_types, 60),
        InputClass("task: deeply nested JSON", T, nested, 40),
        InputClass("task: invalid UTF-8", T, bad_utf8, 40),
        InputClass("task: body over 1 MiB", T, huge, 10, 1),
        InputClass("task: target root outside", T, outside, 30, deferred=ROOTS),
    ]
