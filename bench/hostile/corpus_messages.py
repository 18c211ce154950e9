"""Hostile outcomes (results exchange) and check-ins, published with the agent role."""

from __future__ import annotations

import pickle
import uuid
from random import Random

from bench.hostile import mutate, samples
from bench.hostile.corpus_events import _invalid
from bench.hostile.model import SENDERS, Ctx, EntryPoint, Input, InputClass
from contracts import OutcomeEvent
from contracts.checkins import CheckinRequest

R, C = EntryPoint.RESULTS, EntryPoint.CHECKINS
#: reply_to of a check-in: the direct reply-to pseudo-queue (the runner consumes it).
DIRECT = "amq.rabbitmq.reply-to"
#: A queue the runner declares and watches: a reply that lands there was misrouted.
TRAP = "hostile.trap"


def _outcome(doc: dict, body: bytes | None = None, **props: object) -> Input:
    body = mutate.dumps(doc) if body is None else body
    watch = (doc.get("change_id"), doc.get("target"))
    return Input("", R, body, {}, dict(props), "eu.bench.victim", watch=watch)


def forged(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    """A succeeded outcome for a target the agent is not (another target, another change)."""
    out = []
    for _ in range(n):
        status = rng.choice(["converged", "changed"])
        doc = samples.outcome(str(uuid.uuid4()), rng.choice(["victim", "canary", "db-1"]))
        out.append(_outcome({**doc, "status": status}))
    return out


def future(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    out = []
    for _ in range(n):
        year = rng.choice([2036, 2099, 9999])
        doc = samples.outcome(str(uuid.uuid4()), "victim", finished_at=f"{year}-01-01T00:00:00Z")
        out.append(_outcome(doc))
    return out


def huge_outcome(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    cap = 2**21 if ctx.quick else 2**23
    out = []
    for _ in range(n):
        message = "E" * rng.randint(256 * 1024 + 1, cap)
        error = {"type": "Forged", "message": message, "transient": False}
        doc = samples.outcome(str(uuid.uuid4()), "victim", status="failed", error=error)
        out.append(_outcome(doc))
    return out


def outcome_nested(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    return [_outcome({}, mutate.nested(rng)) for _ in range(n)]


def outcome_utf8(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    out = []
    for _ in range(n):
        doc = samples.outcome(str(uuid.uuid4()), "victim")
        out.append(_outcome(doc, mutate.invalid_utf8(rng, mutate.dumps(doc))))
    return out


def outcome_types(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    base = samples.outcome(str(uuid.uuid4()), "victim")
    make = lambda r: mutate.wrong_type(r, base)  # noqa: E731
    return [_outcome(_invalid(OutcomeEvent, make, rng)) for _ in range(n)]


def _checkin(body: bytes, reply_to: str = DIRECT, **props: object) -> Input:
    return Input("", C, body, {}, {"reply_to": reply_to, **props}, "checkin")


def checkin_nested(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    return [_checkin(mutate.nested(rng, 2_000, 14_000)) for _ in range(n)]


def checkin_utf8(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    return [_checkin(mutate.invalid_utf8(rng, mutate.dumps(samples.checkin()))) for _ in range(n)]


def checkin_types(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    base = samples.checkin()
    make = lambda r: mutate.wrong_type(r, base)  # noqa: E731
    return [_checkin(mutate.dumps(_invalid(CheckinRequest, make, rng))) for _ in range(n)]


def checkin_missing(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    base = samples.checkin(applied_revision=1)
    return [
        _checkin(mutate.dumps(mutate.missing_field(rng, base, ["target", "token"])))
        for _ in range(n)
    ]


def checkin_huge(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    cap = 2**20 if ctx.quick else 2**22
    return [
        _checkin(mutate.dumps(samples.checkin(token="t" * rng.randint(16 * 1024 + 1, cap))))
        for _ in range(n)
    ]


def checkin_reply_to(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    """reply_to naming an ordinary queue: the controller must not publish there for anyone."""
    return [
        _checkin(mutate.dumps(samples.checkin(rng.choice(["victim", "canary"]))), TRAP)
        for _ in range(n)
    ]


def checkin_no_reply(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    choices = ["", "nowhere." + uuid.uuid4().hex, DIRECT + ".forged"]
    return [_checkin(mutate.dumps(samples.checkin()), rng.choice(choices)) for _ in range(n)]


def bogus_tokens(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    """A flood of well-formed check-ins with made-up tokens for made-up and real targets."""
    targets = ["victim", "canary", "truth-1"] + [f"probe-{i}" for i in range(50)]
    return [
        _checkin(mutate.dumps(samples.checkin(rng.choice(targets), token=uuid.uuid4().hex * 2)))
        for _ in range(n)
    ]


def checkin_pickle(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    return [
        _checkin(pickle.dumps(samples.checkin()), content_type="application/x-python-serialize")
        for _ in range(n)
    ]


def classes() -> list[InputClass]:
    return [
        InputClass("outcome: forged for another target", R, forged, 40, deferred=SENDERS),
        InputClass("outcome: finished_at in the future", R, future, 30),
        InputClass("outcome: body over 256 KiB", R, huge_outcome, 10, 1),
        InputClass("outcome: deeply nested JSON", R, outcome_nested, 40),
        InputClass("outcome: invalid UTF-8", R, outcome_utf8, 40),
        InputClass("outcome: wrong types", R, outcome_types, 60),
        InputClass("check-in: deeply nested JSON", C, checkin_nested, 40),
        InputClass("check-in: invalid UTF-8", C, checkin_utf8, 40),
        InputClass("check-in: wrong types", C, checkin_types, 60),
        InputClass("check-in: missing fields", C, checkin_missing, 30),
        InputClass("check-in: body over 16 KiB", C, checkin_huge, 10, 1),
        InputClass("check-in: reply_to an ordinary queue", C, checkin_reply_to, 30),
        InputClass("check-in: no usable reply_to", C, checkin_no_reply, 30),
        InputClass("check-in: bogus token flood", C, bogus_tokens, 200, 10),
        InputClass("check-in: pickle content", C, checkin_pickle, 20),
    ]
