"""Reading YAML and JSON documents, with errors that name the file, the field and the reason.

Kept apart from the models, and importing PyYAML only for a YAML file, so a process that
reads one JSON document (the engine in local mode) pays for nothing else.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from contracts import limits
from contracts.errors import ContractError

Model = TypeVar("Model", bound=BaseModel)


def read_document(path: Path) -> Any:
    """Parse a YAML or JSON file (JSON is YAML, but its errors read better from json).

    Unreadable, over `FILE_BYTES`, not UTF-8, nested deeper than `JSON_DEPTH` or
    amplified by YAML aliases: a ContractError naming the file and the reason, never a
    traceback.
    """
    source = str(path)
    text = _read_text(path)
    if path.suffix == ".json":
        try:
            limits.check_json("file", text, limits.FILE_BYTES, "FILE_BYTES")
            return json.loads(text)
        except limits.LimitExceeded as exc:
            raise ContractError(source, [("", str(exc))]) from exc
        except json.JSONDecodeError as exc:
            raise ContractError(
                source, [("", f"invalid JSON at line {exc.lineno}: {exc.msg}")]
            ) from exc
    from contracts.yaml_bounds import load_yaml

    return load_yaml(text, source)


def _read_text(path: Path) -> str:
    """The file's text, read only after its size is known to be within FILE_BYTES."""
    source = str(path)
    try:
        # Non-blocking, so a FIFO never hangs the open; only a regular file is read.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
        with os.fdopen(descriptor, "rb") as handle:
            if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                raise ContractError(source, [("", "cannot read file: not a regular file")])
            data = handle.read(limits.FILE_BYTES + 1)
    except OSError as exc:
        raise ContractError(source, [("", f"cannot read file: {exc.strerror or exc}")]) from exc
    if len(data) > limits.FILE_BYTES:
        problem = f"larger than the limit {limits.limit('FILE_BYTES').env}={limits.FILE_BYTES}"
        raise ContractError(source, [("", f"file {problem} bytes")])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContractError(
            source, [("", f"not UTF-8: invalid byte at offset {exc.start}: {exc.reason}")]
        ) from exc


def read_mapping(path: Path) -> dict[str, Any]:
    """Read a file that must hold one mapping (a model's fields), raising ContractError else."""
    data = read_document(path)
    if not isinstance(data, dict):
        raise ContractError(str(path), [("", "expected a mapping at the top level")])
    return data


def load_document(path: Path, model: type[Model]) -> Model:
    """Read a file and validate it as `model`, raising ContractError on any problem."""
    data = read_mapping(path)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ContractError.from_validation(str(path), exc) from exc
