"""The schemas committed under docs/schemas/ are exactly what `provision schema` prints.

Other services build against the committed files; a contract change that forgets to
refresh them fails here. Refresh with: python -m tests.contracts.test_published_schemas
"""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.schemas import SCHEMAS, schema_text

DOCS = Path(__file__).resolve().parents[2] / "docs" / "schemas"


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_committed_schema_is_current(name: str) -> None:
    committed = DOCS / f"{name}.json"
    assert committed.exists(), f"missing {committed}; refresh the published schemas"
    assert committed.read_text() == schema_text(name), f"{committed} is stale"


if __name__ == "__main__":
    DOCS.mkdir(parents=True, exist_ok=True)
    for name in SCHEMAS:
        (DOCS / f"{name}.json").write_text(schema_text(name))
