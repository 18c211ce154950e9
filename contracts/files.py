"""The file `provision apply` reads, and the loader that names file, field and reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from contracts.errors import ContractError
from contracts.events import RolloutPolicy
from contracts.resources import ResourceSpec
from contracts.targets import Selector, Target

Model = TypeVar("Model", bound=BaseModel)


class ChangeFile(BaseModel):
    """A fleet (or the inventory), a selector, a desired state and how to roll it out."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    targets: tuple[Target, ...] | None = Field(
        default=None, description="The fleet the selector picks from; absent: the inventory."
    )
    selector: Selector = Field(default_factory=Selector)
    resources: tuple[ResourceSpec, ...] = Field(
        default=(), description="The desired state of each target (or give `revision`)."
    )
    revision: int | None = Field(
        default=None, ge=1, description="Roll out this source-of-truth revision instead."
    )
    rollout: RolloutPolicy = Field(default_factory=RolloutPolicy)
    deadline: AwareDatetime | None = None


def read_document(path: Path) -> Any:
    """Parse a YAML or JSON file (JSON is YAML, but its errors read better from json)."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ContractError(source, [("", f"cannot read file: {exc.strerror or exc}")]) from exc
    try:
        if path.suffix == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise ContractError(
            source, [("", f"invalid JSON at line {exc.lineno}: {exc.msg}")]
        ) from exc
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
