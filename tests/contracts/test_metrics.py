"""Metric names and label values: every value a fixed word or a capped one, whatever a
message says."""

from __future__ import annotations

import re

import pytest

from contracts import metrics
from contracts.metrics import (
    DEAD_LETTER_REASONS,
    OTHER,
    RETRY_REASONS,
    CappedLabel,
    dead_letter_reason,
    retry_reason,
)
from tests.isolation import ROOT


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        (
            "exhausted after 5 attempt(s): NotReady: checks.0 (path_exists): /x does not exist",
            "exhausted",
        ),
        ("exhausted after 30 wait(s): LockBusy: busy", "exhausted"),
        ("poison: started 6 times without finishing (its worker died...)", "poison"),
        ("expired at 2026-01-01T00:00:00+00:00", "expired"),
        ("deadline 2026-01-01T00:00:00+00:00 has passed", "expired"),
        ("not allowed: local:///etc is not allowed by --allow", "not_allowed"),
        ("unexpected error admitting the event: KeyError('x')", "unexpected"),
        ("unexpected error recording the outcome: ValueError()", "unexpected"),
        ("task message not handled: TypeError()", "unexpected"),
        ("task message check failed: RecursionError()", "unexpected"),
        (
            "change event of 9000000 bytes: 9000000 bytes exceeds the limit "
            "PROVISION_LIMIT_EVENT_BYTES=1048576",
            "limit",
        ),
        (
            "the event selects 20000 targets, more than the limit "
            "PROVISION_LIMIT_TARGETS_PER_EVENT=10000",
            "limit",
        ),
        (
            "deadline 2099-01-01T00:00:00+00:00 is more than 604800s ahead, the limit "
            "PROVISION_LIMIT_DEADLINE_HORIZON_S",
            "limit",
        ),
        ("invalid change request: change request: target: field required", "invalid"),
        ("invalid outcome event: sequence 9 is ahead of our clock", "invalid"),
        ("not JSON: Expecting value: line 1 column 1 (char 0)", "invalid"),
        ("cannot decode the message body: bad", "invalid"),
        ("not a task message (no 'task' header)", "invalid"),
        ("unknown task 'x': KeyError", "invalid"),
        ("task 'os.system' is not allowed: only provision.converge runs here", "invalid"),
        ("header retries 'x' is not a count", "invalid"),
        ("embedded callbacks refused: only provision.converge runs here", "invalid"),
        ("change event: rollout.waves: Field required", "invalid"),
        ("reply_to 'x' is not direct reply-to", "invalid"),
        ("unsigned: header x-provision-signature is missing or malformed", "unauthenticated"),
        ("bad signature: key ed25519:0123 of ops did not sign this body", "unauthenticated"),
        ("revoked key ed25519:0123 of ops (revoked 2026-12-01T00:00:00+00:00)", "unauthenticated"),
        ("stale: issued_at 2026-12-01T00:00:00+00:00 is 900s old", "unauthenticated"),
        ("unsigned change request: no signature", "unauthenticated"),
        ("outside the scope of billing: resources.0 (command): kind command", "unauthorized"),
        ("unknown region 'mars' (queue provision.changes.mars): no queue exists for it.", OTHER),
        ("", OTHER),
    ],
)
def test_each_dead_letter_reason_has_its_kind(reason: str, kind: str) -> None:
    assert dead_letter_reason(reason) == kind
    assert kind in DEAD_LETTER_REASONS


def test_text_quoted_from_a_message_does_not_choose_the_kind() -> None:
    """Our words come first in a reason: a message naming itself `poison` is still invalid."""
    assert dead_letter_reason("unknown task 'poison: exhausted after'") == "invalid"
    assert dead_letter_reason("task 'exhausted after 1' is not allowed") == "invalid"


def test_retry_reasons_are_a_fixed_vocabulary() -> None:
    assert retry_reason("NotReady") == "not_ready"
    assert retry_reason("TargetLocked") == "target_locked"
    assert retry_reason("LockBusy") == "lock_busy"
    assert retry_reason("SomethingAMessageSaid") == "transient"
    assert retry_reason(None) == "transient"
    assert {retry_reason(t) for t in ("NotReady", "X", "ServiceUnavailable")} <= set(RETRY_REASONS)


def test_an_open_label_keeps_its_first_values_and_folds_the_rest_into_other() -> None:
    regions = CappedLabel(3)
    assert [regions(r) for r in ("eu", "us", "eu", "ap")] == ["eu", "us", "eu", "ap"]
    assert regions("sa") == OTHER, "over the cap"
    assert regions("eu") == "eu", "a value seen keeps its series"
    assert regions("bad region\n") == OTHER and regions(None) == OTHER
    assert regions("x" * 200) == OTHER
    assert regions(OTHER) == OTHER
    assert regions.seen() == ("eu", "us", "ap")


def test_a_flood_of_hostile_values_creates_at_most_the_cap() -> None:
    regions = CappedLabel(metrics.MAX_REGIONS)
    labels = {regions(f"r{i}") for i in range(10_000)}
    assert len(labels) == metrics.MAX_REGIONS + 1  # the cap, and `other`


def test_names_are_prometheus_names_and_counters_end_in_total() -> None:
    for metric in metrics.METRICS:
        assert re.fullmatch(r"provision_[a-z_]+", metric.name), metric.name
        assert metric.name.endswith("_total") == (metric.kind == "counter"), metric.name
        assert metric.exported_by and metric.help
        assert (metric.kind == "histogram") == bool(metric.buckets)
        assert not metric.values or len(metric.labels) == 1
    assert len({m.name for m in metrics.METRICS}) == len(metrics.METRICS)


def test_the_readme_lists_every_metric_with_its_labels_and_exporters() -> None:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Metrics") :]
    section = section[: section.index("\n## ")] if "\n## " in section else section
    for metric in metrics.METRICS:
        row = next((line for line in section.splitlines() if f"`{metric.name}" in line), None)
        assert row is not None, metric.name
        for label in metric.labels:
            assert label in row, (metric.name, label)
        for process in metric.exported_by:
            assert process in row, (metric.name, process)
