"""The hostile-input corpus, SMALL VERSION: one input per class (`--tiny`), not the real run.

The real measure is `python -m bench.hostile [--quick]` (README, "Hostile input"). Here
the corpus is checked for shape without services, and one tiny run checks that the tool
works end to end and reports every key. Whether today's consumers survive the corpus is
the last test: expected to fail until issue 10's limits and dead-lettering land.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from bench.hostile import corpus, samples
from bench.hostile.model import Ctx, EntryPoint
from contracts import ChangeFile, ChangeRequest, DesiredState, OutcomeEvent
from contracts.checkins import CheckinRequest
from contracts.events import ChangeEvent
from producers.messaging.publisher import task_message
from producers.truth.source import load
from tests.isolation import REDIS_DBS, need, run_module

TINY_REDIS_DB = REDIS_DBS["hostile"]
KEYS = {
    "inputs", "classes", "refused", "crashed", "accepted", "canaries_sent",
    "canaries_applied", "redis_growth_bytes", "max_rss_mb",
}  # fmt: skip


def test_the_full_corpus_has_2000_inputs_in_40_classes_at_every_entry_point() -> None:
    classes = corpus.classes()
    assert sum(spec.full for spec in classes) >= 2_000
    assert len({spec.name for spec in classes}) == len(classes) >= 40
    assert {spec.entry for spec in classes} == set(EntryPoint)


def test_the_corpus_is_the_same_for_the_same_seed(tmp_path: Path) -> None:
    """Same seed, same inputs: only ids and timestamps (which must be fresh) differ."""
    ctx = Ctx(("eu",), tmp_path, quick=True)

    def shape(items: list[Any]) -> list[Any]:
        return [(i.cls, i.entry, i.argv, sorted(i.files), len(i.body) // 100) for i in items]

    first, second = list(corpus.inputs(ctx, 1)), list(corpus.inputs(ctx, 1))
    assert shape(first) == shape(second)
    assert len({i.ident for i in first}) == len(first) == len(corpus.classes())


def test_the_seeds_are_valid_so_each_mutation_is_what_makes_an_input_hostile(
    tmp_path: Path,
) -> None:
    ctx = Ctx(("eu",), tmp_path)
    ChangeEvent.model_validate(samples.event(ctx))
    request = ChangeRequest.model_validate(samples.request(ctx))
    OutcomeEvent.model_validate(samples.outcome("c-1", "victim"))
    CheckinRequest.model_validate(samples.checkin())
    ChangeFile.model_validate(samples.change_file(ctx))
    DesiredState.model_validate(samples.state_file())
    headers, _ = task_message(request)
    assert set(samples.task_headers("x")) == {k for k in headers if k != "traceparent"}
    for rel, text in samples.truth_files(ctx).items():
        (tmp_path / "truth" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "truth" / rel).write_text(text)
    assert [t.id for t in load(tmp_path / "truth").inventory.targets] == ["truth-1"]


@pytest.fixture(scope="module")
def tiny_run(services: dict[str, str]) -> dict[str, Any]:
    need(shutil.which("rabbitmqctl") is not None, "rabbitmqctl makes the corpus's vhost and user")
    argv = ["--tiny", "--json", "--redis-db", str(TINY_REDIS_DB)]
    done = run_module("bench.hostile", *argv, env=services, timeout_s=280)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["table"] = done.stdout
    return result


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_small_version_sends_every_class_and_reports_every_key(
    tiny_run: dict[str, Any],
) -> None:
    assert set(tiny_run) >= KEYS
    assert tiny_run["classes"] == len(corpus.classes())
    counted = ("refused", "crashed", "accepted", "deferred")
    assert tiny_run["inputs"] == sum(tiny_run[key] for key in counted)
    assert tiny_run["canaries_sent"] >= 1
    assert {"controller", "aggregator", "worker-eu"} <= set(tiny_run["max_rss_mb"])
    assert all(mb > 0 for name, mb in tiny_run["max_rss_mb"].items() if name != "cli")
    assert "event: deeply nested JSON" in tiny_run["table"], "the table comes before the JSON"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_small_version_crashes_nothing_accepts_nothing_and_every_canary_applies(
    tiny_run: dict[str, Any],
) -> None:
    bad = [c for c, v in tiny_run["per_class"].items() if set(v) - {"refused"}]
    rows = "\n".join(line for line in tiny_run["table"].splitlines() if any(c in line for c in bad))
    assert tiny_run["crashed"] == 0, f"{bad}\n{rows}"
    for name in (
        "event: target root outside",
        "task: target root outside",
        "outcome: forged for another target",  # our sender check, after RabbitMQ took it
    ):
        assert set(tiny_run["per_class"][name]) == {"refused"}, (name, rows)  # issue 14
    for name in ("task: injected (valid, unsigned)", "task: signed by another key"):
        assert set(tiny_run["per_class"][name]) == {"refused"}, (name, rows)  # issue 15
    assert tiny_run["accepted"] == 0, f"{bad}\n{rows}"
    assert tiny_run["canaries_applied"] == tiny_run["canaries_sent"]
