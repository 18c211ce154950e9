"""Hostile Celery protocol-2 task messages, made by hand and put on a region queue as guest."""

from __future__ import annotations

import json
from random import Random
from typing import Any

from bench.hostile import mutate, samples
from bench.hostile.corpus_events import _invalid
from bench.hostile.corpus_table import Table
from bench.hostile.model import Ctx, EntryPoint, Input, InputClass
from contracts import ChangeRequest
from contracts.changes import EMPTY_EMBED
from contracts.controller_signatures import sign_request
from contracts.signatures import new_private_key

T = EntryPoint.REGION
#: Bodies of every shape but Celery's `[args, kwargs, embed]`.
SHAPES: list[Any] = [
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
#: Task names a worker does not run: Celery's own, and near misses of ours.
UNKNOWN_NAMES = [
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
#: Headers Celery acts on (retries, time limits, ETA, expiry, language), and wrong values.
ACTED_ON = ["retries", "timelimit", "eta", "expires", "lang"]
WRONG_VALUES = [[1, 2, 3], {"a": 1}, "x" * 5000, -1, "9" * 40, "not-a-date", [None], True]

TABLE = Table()
input_class = TABLE.input_class


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


def _signature(name: str) -> dict[str, Any]:
    """A Celery signature calling task `name`, as it would be embedded in a message."""
    return {
        "task": name,
        "args": [],
        "kwargs": {},
        "options": {},
        "subtask_type": None,
        "immutable": False,
    }


@input_class('task: {"a":1}-like bodies', T, 40)
def shapes(ctx: Ctx, rng: Random) -> Input:
    return _task(ctx, rng, json.dumps(rng.choice(SHAPES)).encode())


@input_class("task: unknown task names", T, 40)
def unknown_names(ctx: Ctx, rng: Random) -> Input:
    item = _valid(ctx, rng)
    item.headers["task"] = rng.choice(UNKNOWN_NAMES)
    return item


@input_class("task: embedded callbacks/chains", T, 40)
def embedded(ctx: Ctx, rng: Random) -> Input:
    key = rng.choice(["callbacks", "errbacks", "chain"])
    name = rng.choice(["celery.accumulate", "provision.converge", "celery.backend_cleanup"])
    embed: dict[str, Any] = {**EMPTY_EMBED, key: [_signature(name)]}
    if rng.random() < 0.3:
        embed["chord"] = _signature(name)
    return _valid(ctx, rng, embed)


@input_class("task: ETA in 2099+", T, 30)
def eta(ctx: Ctx, rng: Random) -> Input:
    item = _valid(ctx, rng)
    year = rng.choice([2099, 2500, 9999])
    item.headers["eta"] = f"{year}-{rng.randint(1, 12):02d}-01T00:00:00+00:00"
    return item


@input_class("task: wrong header types", T, 60)
def header_types(ctx: Ctx, rng: Random) -> Input:
    """Headers Celery acts on (retries, time limits, ETA, expiry, language), mistyped."""
    item = _valid(ctx, rng)
    item.headers[rng.choice(ACTED_ON)] = rng.choice(WRONG_VALUES)
    return item


@input_class("task: missing headers", T, 30)
def missing_headers(ctx: Ctx, rng: Random) -> Input:
    """Without the headers that make a message a task: its id, its name, its language."""
    item = _valid(ctx, rng)
    for key in rng.sample(["id", "task", "lang"], rng.randint(1, 2)):
        item.headers.pop(key, None)
    return item


@input_class("task: invalid change request", T, 60)
def request_types(ctx: Ctx, rng: Random) -> Input:
    base = samples.request(ctx)
    request = _invalid(ChangeRequest, lambda r: mutate.wrong_type(r, base), rng)
    return _task(ctx, rng, samples.task_body(request), change_id=base["change_id"])


@input_class("task: deeply nested JSON", T, 40)
def nested(ctx: Ctx, rng: Random) -> Input:
    return _task(ctx, rng, mutate.nested(rng))


@input_class("task: invalid UTF-8", T, 40)
def bad_utf8(ctx: Ctx, rng: Random) -> Input:
    item = _valid(ctx, rng)
    item.body = mutate.invalid_utf8(rng, item.body)
    return item


@input_class("task: body over 1 MiB", T, 10, 1)
def huge(ctx: Ctx, rng: Random) -> Input:
    res = samples.file_resource(content=samples.huge_text(ctx, rng, quick_mib=2, full_mib=8))
    return _valid(ctx, rng, desired={"resources": [res]})


@input_class("task: injected (valid, unsigned)", T, 30)
def injected(ctx: Ctx, rng: Random) -> Input:
    """A well-formed request put straight on a region queue: the controller never signed it."""
    return _valid(ctx, rng)


@input_class("task: signed by another key", T, 30)
def other_key(ctx: Ctx, rng: Random) -> Input:
    """Well-formed and signed, by a key that is not the controller's."""
    request = samples.request(ctx)
    request["signature"] = sign_request(new_private_key(), request)
    return _task(ctx, rng, samples.task_body(request), change_id=request["change_id"])


@input_class("task: target root outside", T, 30)
def outside(ctx: Ctx, rng: Random) -> Input:
    address, path = samples.outside_root(ctx, rng)
    victim = {**samples.target(ctx), "address": address}
    desired = {"resources": [samples.file_resource(path)]}
    return _valid(ctx, rng, target=victim, desired=desired)


def classes() -> list[InputClass]:
    return TABLE.classes()
