"""The examples the README shows are valid, and the README shows them as they are."""

from __future__ import annotations

import json
from pathlib import Path

from contracts import ChangeFile, load_document
from contracts.events import ChangeEvent

ROOT = Path(__file__).resolve().parents[2]


def test_the_example_event_is_valid_and_is_the_one_in_the_readme() -> None:
    text = (ROOT / "examples" / "event.json").read_text()
    event = ChangeEvent.model_validate(json.loads(text))
    assert event.rollout.waves == (1, "10%", "50%", "100%")
    assert text in (ROOT / "README.md").read_text()


def test_the_example_change_file_is_valid() -> None:
    change = load_document(ROOT / "examples" / "change.yaml", ChangeFile)
    assert change.targets and change.selector.labels == {"role": "web"}
