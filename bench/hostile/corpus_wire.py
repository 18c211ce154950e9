"""Wire-level hostility for events and task messages: content types, encodings, headers."""

from __future__ import annotations

import gzip
import pickle
import zlib
from random import Random

from bench.hostile import mutate, samples
from bench.hostile.corpus_events import SLOW, _event
from bench.hostile.corpus_tasks import _task, _valid
from bench.hostile.model import Ctx, EntryPoint, Input, InputClass


def foreign_content(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    """Pickle and YAML bodies, declared as such: nothing but JSON may be read."""
    out = []
    for _ in range(n):
        doc = samples.event(ctx)
        if rng.random() < 0.5:
            body = pickle.dumps(doc, protocol=rng.randint(0, 5))
            kind = "application/x-python-serialize"
        else:
            body = b"!!python/object/apply:os.system ['true']\n"
            kind = "application/x-yaml"
        out.append(_event(doc, body, content_type=kind))
    return out


def wrong_encoding(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    """Compressed or unknown-encoded bodies: only plain UTF-8 JSON may be read."""
    out = []
    for _ in range(n):
        doc = samples.event(ctx, rollout=SLOW)
        raw = mutate.dumps(doc)
        choice = rng.randrange(3)
        if choice == 0:
            out.append(_event(doc, gzip.compress(raw), content_encoding="gzip"))
        elif choice == 1:
            out.append(_event(doc, zlib.compress(raw), content_encoding="deflate"))
        else:
            out.append(_event(doc, rng.randbytes(len(raw)), content_encoding="br"))
    return out


def event_headers(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    out = []
    for _ in range(n):
        if rng.random() < 0.5:
            headers = {f"h{i}": "v" * 16 for i in range(rng.randint(2_000, 3_500))}
        else:
            headers = {"big": "v" * rng.randint(60_000, 90_000)}
        out.append(_event(samples.event(ctx, rollout=SLOW), headers=headers))
    return out


def task_foreign(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    out = []
    for _ in range(n):
        body_args = [[], {"request": samples.request(ctx)}, samples.EMBED]
        if rng.random() < 0.5:
            body = pickle.dumps(body_args)
            kind = "application/x-python-serialize"
        else:
            body = b"!!python/object/apply:os.system ['true']\n"
            kind = rng.choice(["application/x-yaml", "application/data"])
        out.append(_task(ctx, rng, body, content_type=kind, content_encoding="binary"))
    return out


def task_encoding(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    """A compression header on a plain body, an unknown codec, a compressed body unsaid."""
    out = []
    for _ in range(n):
        item = _valid(ctx, rng)
        choice = rng.randrange(3)
        if choice == 0:
            item.headers["compression"] = rng.choice(["application/x-gzip", "application/x-bz2"])
        elif choice == 1:
            item.props["content_encoding"] = rng.choice(["x-unknown", "rot13", "utf-7x"])
        else:
            item.body = gzip.compress(item.body)
        out.append(item)
    return out


def task_headers(ctx: Ctx, rng: Random, n: int) -> list[Input]:
    out = []
    for _ in range(n):
        item = _valid(ctx, rng)
        item.headers.update({f"h{i}": "v" * 16 for i in range(rng.randint(2_000, 3_500))})
        out.append(item)
    return out


def classes() -> list[InputClass]:
    E, T = EntryPoint.EVENTS, EntryPoint.REGION
    return [
        InputClass("event: pickle/yaml content", E, foreign_content, 30),
        InputClass("event: wrong content-encoding", E, wrong_encoding, 30),
        InputClass("event: huge headers", E, event_headers, 12, 1),
        InputClass("task: pickle/yaml content", T, task_foreign, 30),
        InputClass("task: wrong content-encoding", T, task_encoding, 30),
        InputClass("task: huge headers", T, task_headers, 10, 1),
    ]
