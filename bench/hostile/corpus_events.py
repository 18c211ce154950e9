"""Hostile change events for `provision.events` (published as guest, as any service would)."""

from __future__ import annotations

from random import Random
from typing import Any

from pydantic import ValidationError

from bench.hostile import mutate, samples
from bench.hostile.model import ROOTS, Ctx, EntryPoint, Input, InputClass
from contracts.events import ChangeEvent

MiB = 2**20
#: Keeps an event that is wrongly accepted from doing more than one target's work.
SLOW = {"waves": [1, "100%"], "pause_s": 86_400}


def _event(doc: dict[str, Any], body: bytes | None = None, **props: Any) -> Input:
    body = mutate.dumps(doc) if body is None else body
    headers = props.pop("headers", {})
    return Input("", EntryPoint.EVENTS, body, headers, props, "hostile", watch=doc.get("event_id"))


def _invalid(model: Any, make: Any, rng: Random, tries: int = 20) -> Any:
    """A mutation the contract itself refuses (a mutation that is still valid is no attack)."""
    for _ in range(tries):
        doc = make(rng)
        try:
            model.model_validate(doc)
        except (ValidationError, ValueError, TypeError):
            return doc
    return doc


def nested(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    return [_event({}, mutate.nested(rng)) for _ in range(n)]


def huge(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    cap = 2 * MiB if ctx.quick else 8 * MiB
    out = []
    for _ in range(n):
        size = rng.randint(MiB + 1024, cap)
        res = samples.file_resource(content="A" * size)
        out.append(_event(samples.event(ctx, resources=[res], rollout=SLOW)))
    return out


def bad_utf8(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    out = []
    for _ in range(n):
        doc = samples.event(ctx)
        out.append(_event(doc, mutate.invalid_utf8(rng, mutate.dumps(doc))))
    return out


def wrong_types(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    base = samples.event(ctx)
    return [
        _event(_invalid(ChangeEvent, lambda r: mutate.wrong_type(r, base), rng)) for _ in range(n)
    ]


def missing(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    base = samples.event(ctx)
    required = ["event_id", "issued_by", "resources"]
    return [_event(mutate.missing_field(rng, base, required)) for _ in range(n)]


def _rollout(ctx: Ctx, rollout: dict[str, Any], **extra: Any) -> Input:
    return _event(samples.event(ctx, rollout=rollout, **extra))


def tiny_rate(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    rates = [1e-20, 1e-300, 5e-324, 1e-12]
    return [
        _rollout(ctx, {**SLOW, "rate_per_s": rng.choice(rates) * rng.random()}) for _ in range(n)
    ]


def many_targets(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    cap = 12_000 if ctx.quick else 100_000
    out = []
    for _ in range(n):
        count = rng.randint(10_001, cap)
        fleet = [samples.target(ctx, f"m{i}") for i in range(count)]
        out.append(_event(samples.event(ctx, targets=fleet, rollout=SLOW)))
    return out


def many_waves(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    return [
        _rollout(ctx, {"waves": list(range(1, rng.randint(1_001, 100_000))), "pause_s": 86_400})
        for _ in range(n)
    ]


def far_deadline(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    years = [2099, 2500, 9999, 3000 + rng.randrange(5000)]
    return [
        _event(samples.event(ctx, deadline=f"{rng.choice(years)}-01-01T00:00:00Z", rollout=SLOW))
        for _ in range(n)
    ]


def setid(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    modes = ["4755", "6755", "7777", "2755", "4777", "6777", "1777"]
    out = []
    for _ in range(n):
        res = samples.file_resource(mode=rng.choice(modes))
        out.append(_event(samples.event(ctx, resources=[res], rollout=SLOW)))
    return out


def path_tricks(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    return [
        _event(
            samples.event(ctx, resources=[samples.file_resource(rng.choice(mutate.PATH_TRICKS))])
        )
        for _ in range(n)
    ]


def outside_address(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    """A target whose root is `/` (or outside every target root): the message picks the root."""
    out = []
    for _ in range(n):
        victim = samples.target(ctx)
        victim["address"], path = samples.outside_root(ctx, rng)
        doc = samples.event(ctx, targets=[victim], resources=[samples.file_resource(path)])
        out.append(_event(doc))
    return out


def unknown_fields(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    keys = ["callbacks", "__class__", "x" * 100, "$where", "task", "eta"]
    out = []
    for _ in range(n):
        doc = samples.event(ctx)
        where = rng.choice([doc, doc["resources"][0], doc["targets"][0]])
        where[rng.choice(keys)] = rng.choice(mutate.WRONG)
        out.append(_event(doc))
    return out


def non_finite(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    out = []
    for _ in range(n):
        field = rng.choice(["rate_per_s", "pause_s", "max_in_flight"])
        token = rng.choice(["NaN", "Infinity", "-Infinity"])
        doc = samples.event(ctx, rollout={**SLOW, field: 12345})
        out.append(_event(doc, mutate.dumps(doc).replace(b"12345", token.encode())))
    return out


def huge_ints(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    out = []
    for _ in range(n):
        doc = samples.event(ctx, rollout={**SLOW, "max_in_flight": 12345})
        digits = b"9" * rng.randint(4_400, 200_000)
        out.append(_event(doc, mutate.dumps(doc).replace(b"12345", digits)))
    return out


def not_object(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    bodies = [b"", b" ", b"[]", b'"x"', b"null", b"1", b"true", b"[{}]", b"\x00", b"{}"]
    return [_event({}, rng.choice(bodies) * rng.randint(1, 3)) for _ in range(n)]


def classes() -> list[InputClass]:
    big = 1
    E = EntryPoint.EVENTS
    return [
        InputClass("event: deeply nested JSON", E, nested, 60),
        InputClass("event: body over 1 MiB", E, huge, 12, big),
        InputClass("event: invalid UTF-8", E, bad_utf8, 60),
        InputClass("event: wrong types", E, wrong_types, 80),
        InputClass("event: missing fields", E, missing, 40),
        InputClass("event: rate_per_s ~1e-20", E, tiny_rate, 30),
        InputClass("event: over 10,000 targets", E, many_targets, 6, 1),
        InputClass("event: 100k waves", E, many_waves, 12, big),
        InputClass("event: deadline in 2099+", E, far_deadline, 30),
        InputClass("event: setid modes", E, setid, 30),
        InputClass("event: ../NUL/control/bidi paths", E, path_tricks, 60),
        InputClass("event: target root outside", E, outside_address, 30, deferred=ROOTS),
        InputClass("event: unknown fields", E, unknown_fields, 40),
        InputClass("event: NaN/Infinity", E, non_finite, 30),
        InputClass("event: 4,300+ digit integers", E, huge_ints, 20),
        InputClass("event: not an object", E, not_object, 30),
    ]
