"""Intake decisions (pure): which events are refused, with which words, and how others plan.

`parse_event` and `plan_event` take the fleet and the region check as plain callables, so
every admission rule is tested in-process; the controller tests cover the same rules end to
end (dead letters, rejections recorded under the event's id).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import pytest

from contracts import Target, limits
from contracts.changes import utcnow
from contracts.events import ChangeEvent
from producers.errors import SelectionError
from producers.rollouts.intake import Refusal, parse_event, plan_event

KNOWN_REGIONS = {"eu", "us"}


def target(name: str, region: str = "eu", delivery: str = "push", **labels: str) -> dict:
    return {
        "id": name,
        "region": region,
        "environment": "prod",
        "labels": labels,
        "delivery": delivery,
        "address": f"local:///srv/{name}",
    }


FLEET = [target("e1"), target("e2"), target("u1", "us"), target("u2", "us")]


def body(**fields: Any) -> dict[str, Any]:
    """A valid event (inline fleet, one file resource), with `fields` replaced."""
    document: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "issued_by": "tests",
        "targets": FLEET,
        "resources": [{"kind": "file", "path": "/etc/motd", "content": "hi\n"}],
    }
    document.update(fields)
    return {k: v for k, v in document.items() if v is not None}


def regions_exist(regions: Iterable[str]) -> None:
    """The broker's check, as `Publisher.ensure_regions` words it: no queue, no region."""
    missing = sorted(set(regions) - KNOWN_REGIONS)
    if missing:
        raise SelectionError(f"unknown region {', '.join(map(repr, missing))}: no queue exists")


def no_inventory() -> list[Target]:
    raise AssertionError("an event with an inline fleet must not read the inventory")


def planned(document: dict[str, Any], inventory: Any = no_inventory) -> Any:
    event = ChangeEvent.model_validate(document)
    return plan_event(event, inventory, regions_exist)


# -- parse_event ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason", "keeps_id"),
    [
        pytest.param(b"{not json", "not JSON", False, id="not JSON"),
        pytest.param(b"[1, 2]", "change event", False, id="a JSON array"),
        pytest.param(json.dumps(body(event_id=None)).encode(), "event_id", False, id="no id"),
        pytest.param(
            json.dumps(body(event_id="\u202e")).encode(), "event_id", False, id="not a UUID"
        ),
        pytest.param(
            json.dumps(body(event_id="x" * 65)).encode(), "event_id", False, id="65-char id"
        ),
        pytest.param(
            json.dumps(body(rollout={"waves": ["150%"]})).encode(),
            "rollout.waves.0",
            True,
            id="wave over 100%",
        ),
        pytest.param(
            json.dumps(body(revision=3)).encode(),
            "revision",
            True,
            id="resources and revision",
        ),
        pytest.param(json.dumps(body(issued_by="")).encode(), "issued_by", True, id="no issuer"),
        pytest.param(
            json.dumps(body(surprise=1)).encode(), "surprise", True, id="an unknown field"
        ),
    ],
)
def test_parse_event_refuses_naming_the_field(raw: bytes, reason: str, keeps_id: bool) -> None:
    with pytest.raises(Refusal) as caught:
        parse_event(raw)
    assert reason in caught.value.reason
    if keeps_id:
        assert caught.value.change_id == json.loads(raw)["event_id"]
    else:
        assert caught.value.change_id is None


def test_a_wave_over_100_percent_is_named_with_its_value() -> None:
    with pytest.raises(Refusal, match="150%"):
        parse_event(json.dumps(body(rollout={"waves": ["150%"]})).encode())


def test_an_oversized_event_is_refused_before_it_is_parsed() -> None:
    raw = b'{"pad": "' + b"x" * (limits.EVENT_BYTES + 1) + b'"}'
    with pytest.raises(Refusal, match="EVENT_BYTES") as caught:
        parse_event(raw)
    assert caught.value.change_id is None


def test_a_valid_event_parses_with_its_id() -> None:
    document = body()
    event = parse_event(json.dumps(document).encode())
    assert event.change_id == document["event_id"]
    assert [t.id for t in event.targets or ()] == ["e1", "e2", "u1", "u2"]


# -- plan_event ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        pytest.param({"selector": {"environment": "dev"}}, "matches no target", id="no match"),
        pytest.param(
            {"targets": [*FLEET, target("a1", "ap")]}, "unknown region 'ap'", id="unknown region"
        ),
        pytest.param(
            {"targets": [target("p1", delivery="pull")]},
            "pull targets (p1)",
            id="pull without a source of truth",
        ),
        pytest.param(
            {"deadline": (utcnow() - timedelta(seconds=5)).isoformat()},
            "has passed",
            id="deadline passed",
        ),
        pytest.param(
            {"deadline": (utcnow() + timedelta(days=400)).isoformat()},
            "DEADLINE_HORIZON_S",
            id="deadline too far",
        ),
        pytest.param({"revision": 1, "resources": None}, "revision", id="unknown revision"),
    ],
)
def test_plan_event_refuses_with_the_events_id(fields: dict[str, Any], reason: str) -> None:
    document = body(**fields)
    with pytest.raises(Refusal) as caught:
        planned(document)
    assert reason in caught.value.reason
    assert caught.value.change_id == document["event_id"]


def test_a_region_without_pushed_targets_needs_no_queue() -> None:
    """Only push targets are published to a region's queue; a pull-only region is fine."""
    with pytest.raises(Refusal, match="pull targets"):
        planned(body(targets=[*FLEET, target("p1", "ap", delivery="pull")]))


def test_an_inline_fleet_plans_its_selection_in_waves() -> None:
    admission = planned(body(selector={"region": "us"}, rollout={"waves": [1]}))
    assert [t.id for t in admission.targets] == ["u1", "u2"]
    assert [w.targets for w in admission.plan.waves] == [("u1",), ("u2",)]
    assert admission.revision is None


def test_without_an_inline_fleet_the_inventory_is_the_fleet() -> None:
    inventory = [Target.model_validate(t) for t in FLEET]
    admission = planned(body(targets=None), inventory=lambda: inventory)
    assert sorted(t.id for t in admission.targets) == ["e1", "e2", "u1", "u2"]
    assert set(admission.plan.targets) == {"e1", "e2", "u1", "u2"}
