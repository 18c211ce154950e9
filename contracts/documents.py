"""Reading YAML and JSON documents, with errors that name the file, the field and the reason.

Kept apart from the models, and importing PyYAML only for a YAML file, so a process that
reads one JSON document (the engine in local mode) pays for nothing else.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from contracts.errors import ContractError

Model = TypeVar("Model", bound=BaseModel)


def read_document(path: Path) -> Any:
    """Parse a YAML or JSON file (JSON is YAML, but its errors read better from json)."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ContractError(source, [("", f"cannot read file: {exc.strerror or exc}")]) from exc
    if path.suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ContractError(
                source, [("", f"invalid JSON at line {exc.lineno}: {exc.msg}")]
            ) from exc
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ContractError(source, [("", f"invalid YAML{where}: {problem}")]) from exc


def load_document(path: Path, model: type[Model]) -> Model:
    """Read a file and validate it as `model`, raising ContractError on any problem."""
    data = read_document(path)
    if not isinstance(data, dict):
        raise ContractError(str(path), [("", "expected a mapping at the top level")])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ContractError.from_validation(str(path), exc) from exc
