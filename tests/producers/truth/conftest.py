"""A fresh copy of examples/truth per test, and a revision store of the test's own."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.isolation import ROOT

EXAMPLE = ROOT / "examples" / "truth"


@pytest.fixture
def truth_dir(tmp_path: Path) -> Path:
    """A writable copy of the example source of truth."""
    return Path(shutil.copytree(EXAMPLE, tmp_path / "truth"))


@pytest.fixture
def store(redis_client: Any) -> Any:
    """A RevisionStore in db 15 under a namespace no other test uses."""
    from producers.truth.revisions import RevisionStore

    namespace = f"provision-test:state:{uuid.uuid4().hex[:8]}"
    yield RevisionStore(redis_client, namespace=namespace)
    for key in redis_client.scan_iter(f"{namespace}:*"):
        redis_client.delete(key)


def edit(path: Path, change: Any) -> None:
    """Load a YAML file, let `change` mutate the data, write it back."""
    data = yaml.safe_load(path.read_text()) or {}
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
