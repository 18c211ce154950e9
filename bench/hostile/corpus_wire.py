"""Wire-level hostility for events and task messages: content types, encodings, headers."""

from __future__ import annotations

import gzip
import pickle
import zlib
from random import Random

from bench.hostile import mutate, samples
from bench.hostile.corpus_events import SLOW, _event
from bench.hostile.corpus_table import Table
from bench.hostile.corpus_tasks import _task, _valid
from bench.hostile.model import Ctx, EntryPoint, Input, InputClass
from contracts.changes import EMPTY_EMBED

E, T = EntryPoint.EVENTS, EntryPoint.REGION
#: A YAML body that runs a command if anything reads it with a full loader.
YAML_BOMB = b"!!python/object/apply:os.system ['true']\n"

TABLE = Table()
input_class = TABLE.input_class


def _many_headers(rng: Random) -> dict[str, str]:
    return {f"h{i}": "v" * 16 for i in range(rng.randint(2_000, 3_500))}


@input_class("event: pickle/yaml content", E, 30)
def foreign_content(ctx: Ctx, rng: Random) -> Input:
    """Pickle and YAML bodies, declared as such: nothing but JSON may be read."""
    doc = samples.event(ctx)
    if rng.random() < 0.5:
        body = pickle.dumps(doc, protocol=rng.randint(0, 5))
        kind = "application/x-python-serialize"
    else:
        body, kind = YAML_BOMB, "application/x-yaml"
    return _event(doc, body, content_type=kind)


@input_class("event: wrong content-encoding", E, 30)
def wrong_encoding(ctx: Ctx, rng: Random) -> Input:
    """Compressed or unknown-encoded bodies: only plain UTF-8 JSON may be read."""
    doc = samples.event(ctx, rollout=SLOW)
    raw = mutate.dumps(doc)
    choice = rng.randrange(3)
    if choice == 0:
        return _event(doc, gzip.compress(raw), content_encoding="gzip")
    if choice == 1:
        return _event(doc, zlib.compress(raw), content_encoding="deflate")
    return _event(doc, rng.randbytes(len(raw)), content_encoding="br")


@input_class("event: huge headers", E, 12, 1)
def event_headers(ctx: Ctx, rng: Random) -> Input:
    many = rng.random() < 0.5
    headers = _many_headers(rng) if many else {"big": "v" * rng.randint(60_000, 90_000)}
    return _event(samples.event(ctx, rollout=SLOW), headers=headers)


@input_class("task: pickle/yaml content", T, 30)
def task_foreign(ctx: Ctx, rng: Random) -> Input:
    body_args = [[], {"request": samples.request(ctx)}, EMPTY_EMBED]
    if rng.random() < 0.5:
        body = pickle.dumps(body_args)
        kind = "application/x-python-serialize"
    else:
        body, kind = YAML_BOMB, rng.choice(["application/x-yaml", "application/data"])
    return _task(ctx, rng, body, content_type=kind, content_encoding="binary")


@input_class("task: wrong content-encoding", T, 30)
def task_encoding(ctx: Ctx, rng: Random) -> Input:
    """A compression header on a plain body, an unknown codec, a compressed body unsaid."""
    item = _valid(ctx, rng)
    choice = rng.randrange(3)
    if choice == 0:
        item.headers["compression"] = rng.choice(["application/x-gzip", "application/x-bz2"])
    elif choice == 1:
        item.props["content_encoding"] = rng.choice(["x-unknown", "rot13", "utf-7x"])
    else:
        item.body = gzip.compress(item.body)
    return item


@input_class("task: huge headers", T, 10, 1)
def task_headers(ctx: Ctx, rng: Random) -> Input:
    item = _valid(ctx, rng)
    item.headers.update(_many_headers(rng))
    return item


def classes() -> list[InputClass]:
    return TABLE.classes()
