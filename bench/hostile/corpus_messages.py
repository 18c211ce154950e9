"""Hostile outcomes (results exchange) and check-ins, published with the agent role."""

from __future__ import annotations

import pickle
import uuid
from random import Random
from typing import Any

from bench.hostile import mutate, samples
from bench.hostile.corpus_events import _invalid
from bench.hostile.corpus_table import Table
from bench.hostile.model import AGENT, ELSEWHERE, WORKER, Ctx, EntryPoint, Input, InputClass
from contracts import OutcomeEvent
from contracts.checkins import CheckinRequest

R, C = EntryPoint.RESULTS, EntryPoint.CHECKINS
#: reply_to of a check-in: the direct reply-to pseudo-queue (the runner consumes it).
DIRECT = "amq.rabbitmq.reply-to"
#: A queue the runner declares and watches: a reply that lands there was misrouted.
TRAP = "hostile.trap"
#: Made-up targets and real ones, for check-ins with made-up proofs.
PROBED = ["victim", "canary", "truth-1"] + [f"probe-{i}" for i in range(50)]

TABLE = Table()
input_class = TABLE.input_class


def _outcome(doc: dict, body: bytes | None = None, **props: object) -> Input:
    body = mutate.dumps(doc) if body is None else body
    watch = (doc.get("change_id"), doc.get("target"))
    return Input("", R, body, {}, dict(props), "eu.bench.victim", watch=watch)


def _victim_outcome(**override: Any) -> dict[str, Any]:
    return samples.outcome(str(uuid.uuid4()), "victim", **override)


@input_class("outcome: forged for another target", R, 40)
def forged(ctx: Ctx, rng: Random) -> Input:
    """A succeeded outcome, under a routing key the sender's topic permissions allow (so
    RabbitMQ takes it), for a target it may not speak for: the victim's own agent for
    another target, or the first region's worker for a target of another region."""
    status = rng.choice(["converged", "changed"])
    if rng.random() < 0.5:
        doc = samples.outcome(str(uuid.uuid4()), rng.choice(["canary", "db-1", "truth-1"]))
        item = _outcome({**doc, "status": status})
        item.sender = AGENT  # its own key: <region>.bench.victim
        return item
    doc = samples.outcome(str(uuid.uuid4()), ELSEWHERE)
    item = _outcome({**doc, "status": status})
    item.sender, item.routing_key = WORKER, f"{ctx.regions[0]}.bench.{ELSEWHERE}"
    return item


@input_class("outcome: finished_at in the future", R, 30)
def future(ctx: Ctx, rng: Random) -> Input:
    year = rng.choice([2036, 2099, 9999])
    return _outcome(_victim_outcome(finished_at=f"{year}-01-01T00:00:00Z"))


@input_class("outcome: body over 256 KiB", R, 10, 1)
def huge_outcome(ctx: Ctx, rng: Random) -> Input:
    message = "E" * rng.randint(256 * 1024 + 1, 2**21 if ctx.quick else 2**23)
    error = {"type": "Forged", "message": message, "transient": False}
    return _outcome(_victim_outcome(status="failed", error=error))


@input_class("outcome: deeply nested JSON", R, 40)
def outcome_nested(ctx: Ctx, rng: Random) -> Input:
    return _outcome({}, mutate.nested(rng))


@input_class("outcome: invalid UTF-8", R, 40)
def outcome_utf8(ctx: Ctx, rng: Random) -> Input:
    doc = _victim_outcome()
    return _outcome(doc, mutate.invalid_utf8(rng, mutate.dumps(doc)))


@input_class("outcome: wrong types", R, 60)
def outcome_types(ctx: Ctx, rng: Random) -> Input:
    base = _victim_outcome()
    return _outcome(_invalid(OutcomeEvent, lambda r: mutate.wrong_type(r, base), rng))


def _checkin(doc: Any, reply_to: str = DIRECT, **props: object) -> Input:
    """A check-in; `doc` that is not bytes yet is sent as JSON."""
    body = doc if isinstance(doc, bytes) else mutate.dumps(doc)
    return Input("", C, body, {}, {"reply_to": reply_to, **props}, "checkin")


@input_class("check-in: deeply nested JSON", C, 40)
def checkin_nested(ctx: Ctx, rng: Random) -> Input:
    return _checkin(mutate.nested(rng, 2_000, 14_000))


@input_class("check-in: invalid UTF-8", C, 40)
def checkin_utf8(ctx: Ctx, rng: Random) -> Input:
    return _checkin(mutate.invalid_utf8(rng, mutate.dumps(samples.checkin())))


@input_class("check-in: wrong types", C, 60)
def checkin_types(ctx: Ctx, rng: Random) -> Input:
    base = samples.checkin()
    return _checkin(_invalid(CheckinRequest, lambda r: mutate.wrong_type(r, base), rng))


@input_class("check-in: missing fields", C, 30)
def checkin_missing(ctx: Ctx, rng: Random) -> Input:
    base = samples.checkin(applied_revision=1)
    return _checkin(mutate.missing_field(rng, base, ["target", "nonce", "sent_at", "proof"]))


@input_class("check-in: body over 16 KiB", C, 10, 1)
def checkin_huge(ctx: Ctx, rng: Random) -> Input:
    cap = 2**20 if ctx.quick else 2**22
    return _checkin(samples.checkin(proof="t" * rng.randint(16 * 1024 + 1, cap)))


@input_class("check-in: reply_to an ordinary queue", C, 30)
def checkin_reply_to(ctx: Ctx, rng: Random) -> Input:
    """reply_to naming an ordinary queue: the controller must not publish there for anyone."""
    return _checkin(samples.checkin(rng.choice(["victim", "canary"])), TRAP)


@input_class("check-in: no usable reply_to", C, 30)
def checkin_no_reply(ctx: Ctx, rng: Random) -> Input:
    choices = ["", "nowhere." + uuid.uuid4().hex, DIRECT + ".forged"]
    return _checkin(samples.checkin(), rng.choice(choices))


@input_class("check-in: bogus proof flood", C, 200, 10)
def bogus_proofs(ctx: Ctx, rng: Random) -> Input:
    """A flood of well-formed check-ins with made-up proofs for made-up and real targets."""
    proof = (uuid.uuid4().hex * 3)[:86]
    return _checkin(samples.checkin(rng.choice(PROBED), proof=proof))


@input_class("check-in: pickle content", C, 20)
def checkin_pickle(ctx: Ctx, rng: Random) -> Input:
    body = pickle.dumps(samples.checkin())
    return _checkin(body, content_type="application/x-python-serialize")


def classes() -> list[InputClass]:
    return TABLE.classes()
