"""Many rows as ONE statement parameter: a JSON array that PostgreSQL reads back as rows.

The hot writes (the aggregator's batch of outcomes, their observations and applied
revisions, the sender check's region lookup) used one typed array per column: psycopg
builds each array in Python, inspecting every element for its type, which cost more CPU
than the statement itself for a batch of one (about 30 arrays per outcome). A JSON text is
built by the C encoder in one call, and `jsonb_to_recordset` gives the rows back with the
column types the SQL declares, so every value still arrives as a typed parameter, never
as SQL text. Strings must be `clean` (no NUL, no lone surrogate), as for any text column.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any


def _encode(value: object) -> str:
    """JSON has no timestamp: an ISO 8601 text with its offset, as timestamptz reads it."""
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"a {type(value).__name__} cannot be a recordset value")


def recordset(rows: Iterable[Mapping[str, Any]]) -> str:
    """The rows as one JSON array of objects, for `jsonb_to_recordset(%s::jsonb) AS r(...)`."""
    return json.dumps(list(rows), default=_encode, separators=(",", ":"), allow_nan=False)


def names(columns: str) -> str:
    """`a text, b integer` -> `a, b`: the names of a typed column list."""
    return ", ".join(column.split()[0] for column in columns.split(","))


def source(columns: str, alias: str = "r") -> str:
    """The FROM item reading one recordset parameter as rows of `columns` (`name type, ...`)."""
    return f"jsonb_to_recordset(%s::jsonb) AS {alias}({columns})"
