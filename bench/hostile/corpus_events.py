"""Hostile change events for `provision.events` (published as guest, as any service would)."""

from __future__ import annotations

import base64
from random import Random
from typing import Any

from pydantic import ValidationError

from bench.hostile import mutate, samples
from bench.hostile.corpus_table import Table
from bench.hostile.model import OUTCOME, Ctx, EntryPoint, Input, InputClass
from contracts.events import KEY_ID_HEADER, SIGNATURE_HEADER, ChangeEvent

E = EntryPoint.EVENTS
#: Keeps an event that is wrongly accepted from doing more than one target's work.
SLOW = {"waves": [1, "100%"], "pause_s": 86_400}
REQUIRED = ["event_id", "issued_by", "resources"]
TINY_RATES = [1e-20, 1e-300, 5e-324, 1e-12]
SETID_MODES = ["4755", "6755", "7777", "2755", "4777", "6777", "1777"]
UNKNOWN_KEYS = ["callbacks", "__class__", "x" * 100, "$where", "task", "eta"]
NOT_OBJECTS = [b"", b" ", b"[]", b'"x"', b"null", b"1", b"true", b"[{}]", b"\x00", b"{}"]

TABLE = Table()
input_class = TABLE.input_class


def _event(doc: dict[str, Any], body: bytes | None = None, **props: Any) -> Input:
    body = mutate.dumps(doc) if body is None else body
    headers = props.pop("headers", {})
    return Input("", E, body, headers, props, "hostile", watch=doc.get("event_id"))


def _invalid(model: Any, make: Any, rng: Random, tries: int = 20) -> Any:
    """A mutation the contract itself refuses (a mutation that is still valid is no attack)."""
    for _ in range(tries):
        doc = make(rng)
        try:
            model.model_validate(doc)
        except (ValidationError, ValueError, TypeError):
            return doc
    return doc


def _slow(ctx: Ctx, **override: Any) -> Input:
    """An event rolled out slowly enough that a wrong acceptance does little."""
    return _event(samples.event(ctx, rollout=SLOW, **override))


@input_class("event: deeply nested JSON", E, 60)
def nested(ctx: Ctx, rng: Random) -> Input:
    return _event({}, mutate.nested(rng))


@input_class("event: body over 1 MiB", E, 12, 1)
def huge(ctx: Ctx, rng: Random) -> Input:
    res = samples.file_resource(content=samples.huge_text(ctx, rng, quick_mib=2, full_mib=8))
    return _slow(ctx, resources=[res])


@input_class("event: invalid UTF-8", E, 60)
def bad_utf8(ctx: Ctx, rng: Random) -> Input:
    doc = samples.event(ctx)
    return _event(doc, mutate.invalid_utf8(rng, mutate.dumps(doc)))


@input_class("event: wrong types", E, 80)
def wrong_types(ctx: Ctx, rng: Random) -> Input:
    base = samples.event(ctx)
    return _event(_invalid(ChangeEvent, lambda r: mutate.wrong_type(r, base), rng))


@input_class("event: missing fields", E, 40)
def missing(ctx: Ctx, rng: Random) -> Input:
    return _event(mutate.missing_field(rng, samples.event(ctx), REQUIRED))


@input_class("event: rate_per_s ~1e-20", E, 30)
def tiny_rate(ctx: Ctx, rng: Random) -> Input:
    rate = rng.choice(TINY_RATES) * rng.random()
    return _event(samples.event(ctx, rollout={**SLOW, "rate_per_s": rate}))


@input_class("event: over 10,000 targets", E, 6, 1)
def many_targets(ctx: Ctx, rng: Random) -> Input:
    count = rng.randint(10_001, 12_000 if ctx.quick else 100_000)
    return _slow(ctx, targets=[samples.target(ctx, f"m{i}") for i in range(count)])


@input_class("event: 100k waves", E, 12, 1)
def many_waves(ctx: Ctx, rng: Random) -> Input:
    waves = list(range(1, rng.randint(1_001, 100_000)))
    return _event(samples.event(ctx, rollout={"waves": waves, "pause_s": 86_400}))


@input_class("event: deadline in 2099+", E, 30)
def far_deadline(ctx: Ctx, rng: Random) -> Input:
    year = rng.choice([2099, 2500, 9999, 3000 + rng.randrange(5000)])
    return _slow(ctx, deadline=f"{year}-01-01T00:00:00Z")


@input_class("event: setid modes", E, 30)
def setid(ctx: Ctx, rng: Random) -> Input:
    return _slow(ctx, resources=[samples.file_resource(mode=rng.choice(SETID_MODES))])


@input_class("event: ../NUL/control/bidi paths", E, 60)
def path_tricks(ctx: Ctx, rng: Random) -> Input:
    res = samples.file_resource(rng.choice(mutate.PATH_TRICKS))
    return _event(samples.event(ctx, resources=[res]))


@input_class("event: target root outside", E, 30)
def outside_address(ctx: Ctx, rng: Random) -> Input:
    """A target whose root is `/` (or outside every target root): the message picks the root.

    The controller plans it (it cannot know the workers' allow rules); the worker must
    reject it, so it is judged by its outcome."""
    victim = samples.target(ctx)
    victim["address"], path = samples.outside_root(ctx, rng)
    item = _event(samples.event(ctx, targets=[victim], resources=[samples.file_resource(path)]))
    item.check = OUTCOME
    return item


@input_class("event: unknown fields", E, 40)
def unknown_fields(ctx: Ctx, rng: Random) -> Input:
    doc = samples.event(ctx)
    where = rng.choice([doc, doc["resources"][0], doc["targets"][0]])
    where[rng.choice(UNKNOWN_KEYS)] = rng.choice(mutate.WRONG)
    return _event(doc)


@input_class("event: NaN/Infinity", E, 30)
def non_finite(ctx: Ctx, rng: Random) -> Input:
    field = rng.choice(["rate_per_s", "pause_s", "max_in_flight"])
    token = rng.choice(["NaN", "Infinity", "-Infinity"])
    doc = samples.event(ctx, rollout={**SLOW, field: 12345})
    return _event(doc, mutate.dumps(doc).replace(b"12345", token.encode()))


@input_class("event: 4,300+ digit integers", E, 20)
def huge_ints(ctx: Ctx, rng: Random) -> Input:
    doc = samples.event(ctx, rollout={**SLOW, "max_in_flight": 12345})
    digits = b"9" * rng.randint(4_400, 200_000)
    return _event(doc, mutate.dumps(doc).replace(b"12345", digits))


@input_class("event: not an object", E, 30)
def not_object(ctx: Ctx, rng: Random) -> Input:
    return _event({}, rng.choice(NOT_OBJECTS) * rng.randint(1, 3))


def classes() -> list[InputClass]:
    return TABLE.classes()


@input_class("event: unsigned, unknown key or forged signature", E, 30)
def forged(ctx: Ctx, rng: Random) -> Input:
    """A valid event with no signature, a key nobody registered, or a signature that is
    not the body's: the judge signs only events that bring no signature headers."""
    fake = base64.b64encode(rng.randbytes(64)).decode()
    headers = rng.choice(
        [
            {KEY_ID_HEADER: "", SIGNATURE_HEADER: ""},
            {KEY_ID_HEADER: "ed25519:0000000000000000", SIGNATURE_HEADER: fake},
            {KEY_ID_HEADER: "x" * 5000, SIGNATURE_HEADER: "\u202e" * 88},
        ]
    )
    doc = samples.event(ctx, rollout=SLOW)
    return Input("", E, mutate.dumps(doc), headers, {}, "hostile", watch=doc["event_id"])
