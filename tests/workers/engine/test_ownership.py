"""Owners and groups in specs: ids pass through, names are looked up, unknown names refused."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from workers.engine.resources.base import SpecError
from workers.engine.resources.ownership import lookup_gid, lookup_uid

LOOKUPS = [(lookup_uid, "owner", "user"), (lookup_gid, "group", "group")]


@pytest.mark.parametrize(("lookup", "field", "kind"), LOOKUPS)
def test_ids_and_names_become_numbers_and_an_unknown_name_is_a_spec_error(
    lookup: Callable[[str | int | None], int | None], field: str, kind: str
) -> None:
    assert lookup(None) is None
    assert lookup(7) == 7
    assert lookup("42") == 42
    assert lookup("root") == 0
    with pytest.raises(SpecError) as raised:
        lookup("no-such-name-here")
    assert raised.value.field == field
    assert str(raised.value) == f"{field}: unknown {kind} 'no-such-name-here'"
