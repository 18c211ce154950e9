"""The one "latest outcome per target wins" script on a real Redis, row by row."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from producers.counters.latest import LatestWins


@pytest.fixture
def keys(redis_client: Any) -> Iterator[dict[str, str]]:
    base = f"test:latest:{uuid.uuid4().hex}"
    names = {part: f"{base}:{part}" for part in ("latest", "counts", "payload", "inflight")}
    yield names
    redis_client.delete(*names.values())


def record(redis_client: Any, keys: dict[str, str], **kw: Any) -> bool:
    args: dict[str, Any] = {
        "latest": keys["latest"],
        "target": "t1",
        "counts": keys["counts"],
        "payload_key": keys["payload"],
    }
    return LatestWins(redis_client).record(**{**args, **kw})


def test_a_duplicate_or_an_older_outcome_changes_nothing(redis_client: Any, keys: Any) -> None:
    assert record(redis_client, keys, order="2.000000", status="failed", outcome_id="a")
    assert not record(redis_client, keys, order="2.000000", status="failed", outcome_id="a")
    assert not record(redis_client, keys, order="1.000000", status="succeeded", outcome_id="b")
    assert redis_client.hgetall(keys["counts"]) == {"failed": "1"}
    assert redis_client.hget(keys["latest"], "t1") == "2.000000 failed a"


def test_a_newer_outcome_moves_the_counts_and_leaves_the_in_flight_set(
    redis_client: Any, keys: Any
) -> None:
    redis_client.zadd(keys["inflight"], {"t1": 1, "t2": 1})
    common = {"prefix": "0:", "leaving": keys["inflight"], "payload_key": ""}
    assert record(redis_client, keys, order="1.0", status="failed", outcome_id="a", **common)
    assert record(redis_client, keys, order="2.0", status="succeeded", outcome_id="b", **common)
    assert redis_client.hgetall(keys["counts"]) == {"0:failed": "0", "0:succeeded": "1"}
    assert redis_client.zrange(keys["inflight"], 0, -1) == ["t2"]
    assert not redis_client.exists(keys["payload"])


def test_a_touch_keeps_the_standing_and_moves_only_its_fields(redis_client: Any, keys: Any) -> None:
    first = {"state": "aligned", "last_seen": "one", "interval_s": 60, "revision": 3}
    seen = {"state": "pending", "last_seen": "two", "interval_s": None, "revision": None}
    touch = ("last_seen", "interval_s")
    assert record(
        redis_client, keys, order="1.0", status="aligned", outcome_id="a", payload=json.dumps(first)
    )
    assert record(
        redis_client,
        keys,
        order="2.0",
        status="pending",
        outcome_id="seen-2",
        payload=json.dumps(seen),
        touch=touch,
    )
    stored = json.loads(redis_client.hget(keys["payload"], "t1"))
    assert stored == {**first, "last_seen": "two"}
    assert redis_client.hget(keys["latest"], "t1") == "2.0 aligned a"
    assert redis_client.hgetall(keys["counts"]) == {"aligned": "1"}
    assert not record(
        redis_client, keys, order="1.5", status="pending", outcome_id="x", payload="{}", touch=touch
    )


def test_a_touch_of_a_target_never_seen_writes_it_whole(redis_client: Any, keys: Any) -> None:
    seen = {"state": "pending", "last_seen": "one", "interval_s": None}
    assert record(
        redis_client,
        keys,
        order="1.0",
        status="pending",
        outcome_id="seen-1",
        payload=json.dumps(seen),
        touch=("last_seen",),
    )
    assert json.loads(redis_client.hget(keys["payload"], "t1")) == seen
    assert redis_client.hgetall(keys["counts"]) == {"pending": "1"}


def test_a_null_field_keeps_its_old_value_when_asked(redis_client: Any, keys: Any) -> None:
    keep = ("interval_s",)
    first = json.dumps({"state": "aligned", "interval_s": 60})
    then = json.dumps({"state": "failed", "interval_s": None})
    assert record(redis_client, keys, order="1.0", status="aligned", outcome_id="a", payload=first)
    assert record(
        redis_client,
        keys,
        order="2.0",
        status="failed",
        outcome_id="b",
        payload=then,
        keep_if_null=keep,
    )
    assert json.loads(redis_client.hget(keys["payload"], "t1")) == {
        "state": "failed",
        "interval_s": 60,
    }


@pytest.mark.parametrize("word", ["", "two words"])
def test_a_word_with_spaces_or_none_is_refused(redis_client: Any, keys: Any, word: str) -> None:
    with pytest.raises(ValueError, match="one non-empty word"):
        record(redis_client, keys, order="1.0", status="failed", outcome_id=word)
    assert not redis_client.exists(keys["latest"])
