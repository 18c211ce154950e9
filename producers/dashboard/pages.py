"""Rendering: one Jinja2 environment that escapes everything, and the live sections.

Every value that came from a message (a target name, a failure reason, an audit detail) is
hostile: autoescaping is on for every template, `StrictUndefined` makes a misspelt name an
error instead of an empty cell, and nothing is ever marked safe. The live sections are the
same fragment templates the pages include, so a page and its updates cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2

from producers.dashboard import queries
from producers.records.compliance import ComplianceState
from producers.store.database import Database

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _when(value: datetime | None) -> str:
    """A time as on-call reads it: UTC, to the second."""
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    return env


ENV = environment()


def render(name: str, **context: Any) -> str:
    """Render template `name` with `context`, escaped."""
    return ENV.get_template(name).render(**context)


#: The failed targets of one change, grouped by reason: [(reason, [target, ...]), ...].
FailedByReason = Callable[[Database, str], list[tuple[str, list[str]]]]


def _failures(db: Database, failed_by_reason: FailedByReason) -> dict[str, Any]:
    views = queries.rollouts(db)
    found = [(r.change_id, failed_by_reason(db, r.change_id)) for r in views if _any_failed(r)]
    return {"failures": [(change_id, groups) for change_id, groups in found if groups]}


def _any_failed(view: queries.RolloutView) -> bool:
    return any(w.failed for w in view.waves)


def section_context(name: str, db: Database, failed_by_reason: FailedByReason) -> dict[str, Any]:
    """What the fragment `_<name>.html` needs, read now."""
    if name == "rollouts":
        return {"rollouts": queries.rollouts(db)}
    if name == "failures":
        return _failures(db, failed_by_reason)
    if name == "compliance":
        return {
            "groups": queries.compliance_groups(db),
            "states": [s.value for s in ComplianceState],
        }
    raise KeyError(name)


#: The sections a page may ask to have kept live.
SECTIONS = ("rollouts", "failures", "compliance")


def section(name: str, db: Database, failed_by_reason: FailedByReason) -> str:
    """The fragment of section `name`, rendered now."""
    return render(f"_{name}.html", **section_context(name, db, failed_by_reason))
