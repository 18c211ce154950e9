"""Contracts round-trip, export their schemas, and name the field and reason of bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from contracts import (
    ChangeFile,
    ChangeRequest,
    ContractError,
    DesiredState,
    OutcomeEvent,
    OutcomeStatus,
    ResourceOutcome,
    ResourceStatus,
    Selector,
    Target,
    load_document,
)
from contracts.schemas import SCHEMAS, schema_of

TARGET = Target(
    id="web-1",
    region="eu",
    environment="prod",
    labels={"role": "web"},
    address="local:///srv/web-1",
)


def test_change_request_round_trips_through_json() -> None:
    desired = DesiredState.model_validate(
        {
            "resources": [
                {"kind": "directory", "path": "/etc/app", "mode": "755"},
                {"kind": "file", "path": "/etc/app/x.conf", "content": "a=1\n", "mode": "0640"},
            ]
        }
    )
    request = ChangeRequest(change_id="c1", target=TARGET, desired=desired, issued_by="ann")
    again = ChangeRequest.model_validate_json(request.model_dump_json())
    assert again == request
    assert again.desired.resources[0].mode == "0755"
    assert request.target.routing_key == "eu.prod.web-1"


def test_outcome_event_round_trips_and_lists_changes() -> None:
    now = datetime.now(UTC)
    event = OutcomeEvent(
        outcome_id="e1",
        change_id="c1",
        target="web-1",
        status=OutcomeStatus.CHANGED,
        worker="eu-1@h",
        started_at=now,
        finished_at=now,
        trace_id="ab" * 16,
        resources=(
            ResourceOutcome(
                kind="file", path="/a", status=ResourceStatus.CHANGED, summary="created"
            ),
            ResourceOutcome(kind="file", path="/b", status=ResourceStatus.CONVERGED),
        ),
    )
    assert OutcomeEvent.model_validate_json(event.model_dump_json()) == event
    assert [c.path for c in event.changes] == ["/a"]


@pytest.mark.parametrize("field", ["interval_s", "queue_wait_s"])
@pytest.mark.parametrize("value", ["Infinity", "NaN"])
def test_an_outcome_with_a_duration_that_is_not_a_number_is_refused_by_name(
    field: str, value: str
) -> None:
    """JSON parsers accept Infinity and NaN; a duration must be a finite number, or the
    system of record would store one it cannot order or compare."""
    now = datetime.now(UTC).isoformat()
    body = (
        '{"outcome_id": "e1", "change_id": "c1", "target": "web-1", "status": "changed",'
        f' "worker": "eu-1@h", "started_at": "{now}", "finished_at": "{now}",'
        f' "{field}": {value}}}'
    )
    with pytest.raises(ValidationError) as caught:
        OutcomeEvent.model_validate_json(body)
    assert caught.value.errors()[0]["loc"] == (field,)
    assert "finite" in caught.value.errors()[0]["msg"]


def test_an_outcome_written_with_the_old_event_id_still_reads_and_writes_outcome_id() -> None:
    now = datetime.now(UTC).isoformat()
    old = {"event_id": "e1", "change_id": "c1", "target": "web-1", "status": "converged"}
    event = OutcomeEvent.model_validate(
        {**old, "worker": "w", "started_at": now, "finished_at": now}
    )
    assert event.outcome_id == "e1"
    dumped = event.model_dump(mode="json")
    assert dumped["outcome_id"] == "e1" and "event_id" not in dumped


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_every_contract_exports_a_json_schema(name: str) -> None:
    schema = schema_of(name)
    assert schema["$id"].endswith(name)
    assert schema["type"] == "object"
    json.dumps(schema)


def test_unknown_fields_and_kinds_are_refused() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        Target(id="a", region="eu", environment="p", address="local:///x", colour="red")
    with pytest.raises(ValidationError, match="kind"):
        DesiredState.model_validate({"resources": [{"kind": "teapot", "path": "/x"}]})


@pytest.mark.parametrize(
    ("resource", "field", "reason"),
    [
        ({"kind": "file", "path": "/etc/../passwd"}, "path", "'..'"),
        ({"kind": "file", "path": "/x", "mode": 644}, "mode", "octal string"),
        ({"kind": "file", "path": "/x", "mode": "0999"}, "mode", "octal string"),
        ({"kind": "directory"}, "path", "Field required"),
    ],
)
def test_bad_resources_name_field_and_reason(resource: dict, field: str, reason: str) -> None:
    with pytest.raises(ValidationError) as info:
        DesiredState.model_validate({"resources": [resource]})
    error = ContractError.from_validation("f.yaml", info.value)
    assert any(
        path.endswith(field) and path.startswith("resources.0") and reason in why
        for path, why in error.problems
    ), error.problems


def test_target_words_may_not_break_the_routing_key() -> None:
    with pytest.raises(ValidationError, match="region"):
        Target(id="a", region="eu.west", environment="p", address="local:///x")


def test_selector_combines_conditions_with_and() -> None:
    assert Selector(environment="prod", labels={"role": "web"}).matches(TARGET)
    assert not Selector(environment="prod", region="us").matches(TARGET)
    assert Selector().matches(TARGET)


def test_load_document_names_file_field_and_reason(tmp_path: Path) -> None:
    bad = tmp_path / "change.yaml"
    bad.write_text("targets: []\nresources:\n  - kind: file\n    path: /x\n    mode: '12345'\n")
    with pytest.raises(ContractError) as info:
        load_document(bad, ChangeFile)
    text = str(info.value)
    assert str(bad) in text and "resources.0" in text and "mode" in text

    broken = tmp_path / "broken.yaml"
    broken.write_text("targets: [\n")
    with pytest.raises(ContractError, match=r"broken\.yaml.*invalid YAML at line"):
        load_document(broken, ChangeFile)


def test_a_templated_file_survives_a_full_dump_as_on_the_wire() -> None:
    desired = DesiredState.model_validate(
        {"resources": [{"kind": "file", "path": "/etc/x", "template": "{{ id }}"}]}
    )
    assert DesiredState.model_validate(desired.model_dump(mode="json")) == desired
    with pytest.raises(ValidationError, match="either content or template"):
        DesiredState.model_validate(
            {"resources": [{"kind": "file", "path": "/x", "template": "a", "content": "b"}]}
        )


def test_a_revision_is_number_in_code_and_sequence_on_the_wire() -> None:
    from contracts.truth import Revision

    raw = {
        "sequence": 3,
        "content_hash": "sha256:" + "0" * 64,
        "author": "a",
        "message": "m",
        "created_at": datetime.now(UTC).isoformat(),
    }
    revision = Revision.model_validate(raw)
    assert revision.number == 3
    dumped = revision.model_dump(mode="json")
    assert dumped["sequence"] == 3 and "number" not in dumped
    assert Revision.model_validate_json(revision.model_dump_json()) == revision
