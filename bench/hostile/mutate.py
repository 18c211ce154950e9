"""Seeded mutations: the same seed gives the same corpus, run after run."""

from __future__ import annotations

import copy
import json
from random import Random
from typing import Any

Path_ = tuple[str | int, ...]

#: Values of the wrong type (or absurd value) for any field.
WRONG: tuple[Any, ...] = (
    None,
    True,
    0,
    -1,
    1e308,
    "",
    "x" * 300,
    [],
    {},
    [[[]]],
    {"$ne": 1},
    2**70,
    -0.0,
    "\u202e",
    "\x00",
    "NaN",
    [None] * 50,
)

#: Byte sequences that are not UTF-8: stray continuation, overlong, surrogate, truncated.
BAD_UTF8 = (
    b"\xff",
    b"\xfe\xff",
    b"\xc3\x28",
    b"\xa0\xa1",
    b"\xe2\x28\xa1",
    b"\xf0\x28\x8c\xbc",
    b"\xed\xa0\x80",
    b"\xc0\xaf",
    b"\xf8\x88\x80\x80\x80",
    b"\xe2\x82",
)

#: Characters a path or a name should never carry.
PATH_TRICKS = (
    "/../../etc/hostile",
    "/etc/../../hostile",
    "/etc/hostile\x00.conf",
    "/etc/host\nile.conf",
    "/etc/\u202ehostile.conf",
    "/etc/hostile\r.conf",
    "/etc/hostile\x1b[31m.conf",
    "relative/hostile.conf",
    "/etc/hostile/" + "a" * 5000,
    "//../hostile",
    "/etc/./../../../hostile",
    "/etc/hostile\u2028.conf",
    "/etc/\u200bhostile.conf",
)


def leaves(doc: Any, prefix: Path_ = ()) -> list[Path_]:
    """Every path into `doc` (each node and leaf), the root excluded."""
    found: list[Path_] = []
    if isinstance(doc, dict):
        items: list[tuple[str | int, Any]] = list(doc.items())
    elif isinstance(doc, list):
        items = list(enumerate(doc))
    else:
        return found
    for key, value in items:
        path = (*prefix, key)
        found.append(path)
        found.extend(leaves(value, path))
    return found


def set_at(doc: Any, path: Path_, value: Any) -> Any:
    out = copy.deepcopy(doc)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


def drop_at(doc: Any, path: Path_) -> Any:
    out = copy.deepcopy(doc)
    node = out
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return out


def wrong_type(rng: Random, doc: Any) -> Any:
    """`doc` with one field, chosen at random, given a value of the wrong type."""
    path = rng.choice(leaves(doc))
    return set_at(doc, path, rng.choice(WRONG))


def missing_field(rng: Random, doc: dict[str, Any], required: list[str]) -> Any:
    """`doc` without one or more of its required fields."""
    drop = rng.sample(required, rng.randint(1, len(required)))
    return {k: v for k, v in doc.items() if k not in drop}


def invalid_utf8(rng: Random, body: bytes) -> bytes:
    """`body` with a byte sequence that is not UTF-8 put inside it (in a string, mostly)."""
    quote = [i for i, b in enumerate(body) if b == ord('"')]
    at = rng.choice(quote) + 1 if quote and rng.random() < 0.8 else rng.randrange(len(body))
    return body[:at] + rng.choice(BAD_UTF8) * rng.randint(1, 3) + body[at:]


def nested(rng: Random, low: int = 2_000, high: int = 100_000) -> bytes:
    """Deeply nested JSON (valid UTF-8; fails only deep in a recursive parser)."""
    depth = rng.randint(low, high)
    shape = rng.choice(("list", "dict", "mixed", "open"))
    if shape == "list":
        return b"[" * depth + b"]" * depth
    if shape == "dict":
        return b'{"a":' * depth + b"1" + b"}" * depth
    if shape == "mixed":
        return b'[{"a":' * (depth // 2) + b"1" + b"}]" * (depth // 2)
    return b"[" * depth  # never closed


def dumps(doc: Any) -> bytes:
    return json.dumps(doc, allow_nan=True).encode()
