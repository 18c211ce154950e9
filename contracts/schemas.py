"""The published JSON Schemas, by name: what `provision schema NAME` prints."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from contracts.changes import ChangeRequest
from contracts.events import ChangeEvent
from contracts.files import ChangeFile
from contracts.inventory import Inventory
from contracts.issuers import IssuersFile
from contracts.outcomes import OutcomeEvent
from contracts.state import DesiredState
from contracts.targets import Target
from contracts.truth import RenderedState, WaiversFile

#: Schema name → model. Names are public: services in other languages fetch them by name.
SCHEMAS: dict[str, type[BaseModel]] = {
    "change-event": ChangeEvent,
    "change-file": ChangeFile,
    "change-request": ChangeRequest,
    "desired-state": DesiredState,
    "inventory": Inventory,
    "issuers": IssuersFile,
    "outcome-event": OutcomeEvent,
    "rendered-state": RenderedState,
    "target": Target,
    "waivers": WaiversFile,
}


def schema_of(name: str) -> dict[str, Any]:
    """The JSON Schema of a named contract. Raises KeyError for an unknown name."""
    model = SCHEMAS[name]
    schema = model.model_json_schema()
    schema["$id"] = f"urn:provisioning:schema:{name}"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def schema_text(name: str) -> str:
    """The schema as stable, indented JSON text."""
    return json.dumps(schema_of(name), indent=2, sort_keys=True) + "\n"
