"""Poison and exhausted requests end in provision.dead with their reason; the CLI lists,
shows, replays and purges them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pika

from broker_config import CHANGES_EXCHANGE
from producers.messaging.publisher import task_id, task_message
from producers.processes.supervisor import Child
from producers.records.ledger import Ledger
from tests.isolation import Isolated, wait_until
from tests.workers.delivery.conftest import (
    append_effect,
    effects,
    make_target,
    outcome_of,
    publish,
    request,
)


def dead_letters(delivery: Isolated) -> dict[str, dict[str, Any]]:
    done = delivery.provision("dlq", "list", "--json")
    assert done.returncode == 0, done.stderr
    return {row["id"]: row for row in json.loads(done.stdout)["dead_letters"]}


def test_poison_is_dead_lettered_with_its_reason_listed_shown_and_replayed(
    tmp_path: Path,
    ledger: Ledger,
    conn: Any,
    delivery: Isolated,
    dl_pipeline: dict[str, Child],
) -> None:
    assert delivery.provision("dlq", "purge", "--all", "--yes").returncode == 0
    target = make_target(tmp_path)
    root = Path(target.address.removeprefix("local://"))
    headers, _ = task_message(request(target, []))
    headers["id"] = "poison-undecodable"
    channel = conn.channel()
    channel.confirm_delivery()
    channel.basic_publish(
        CHANGES_EXCHANGE,
        target.routing_key,
        b'[[], {"request": ',
        pika.BasicProperties(content_type="application/json", headers=headers, delivery_mode=2),
        mandatory=True,
    )
    waiting = request(
        target, [append_effect("replayed-1")], checks=[{"kind": "path_exists", "path": "/ready"}]
    )
    publish(conn, waiting)
    exhausted_id = task_id(waiting.change_id, target.id)

    letters = wait_until(
        lambda: (
            (d := dead_letters(delivery)) and {"poison-undecodable", exhausted_id} <= set(d) and d
        ),
        90,
        "both dead letters",
    )
    assert "cannot decode" in letters["poison-undecodable"]["reason"]
    exhausted = letters[exhausted_id]
    assert exhausted["reason"].startswith("exhausted after 5 attempt(s): NotReady")
    assert exhausted["attempts"] == 5 and len(exhausted["trace_id"] or "") == 32
    assert exhausted["change_id"] == waiting.change_id
    assert outcome_of(ledger, waiting).status == "not_ready"

    shown = delivery.provision("dlq", "show", exhausted_id)
    assert shown.returncode == 0, shown.stderr
    body = json.loads(json.loads(shown.stdout)["body"])
    assert body[1]["request"]["change_id"] == waiting.change_id

    dry = delivery.provision("dlq", "replay", exhausted_id, "--dry-run")
    assert dry.returncode == 0 and "would replay 1 dead letter" in dry.stdout
    assert exhausted_id in dead_letters(delivery), "a dry run changes nothing"

    (root / "ready").touch()
    replay = delivery.provision("dlq", "replay", exhausted_id)
    assert replay.returncode == 0, replay.stderr
    wait_until(lambda: outcome_of(ledger, waiting).status == "changed", 60, "the replayed request")
    assert effects(target) == ["replayed-1"]
    assert exhausted_id not in dead_letters(delivery)

    refused = delivery.provision("dlq", "purge", "poison-undecodable", stdin="n\n")
    assert refused.returncode != 0 and "poison-undecodable" in dead_letters(delivery)
    purged = delivery.provision("dlq", "purge", "poison-undecodable", "--yes")
    assert purged.returncode == 0, purged.stderr
    assert "poison-undecodable" not in dead_letters(delivery)
