"""File templates: Jinja2, sandboxed, with unknown variables as errors.

Jinja2 is imported on first use, so states without templates never pay for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workers.resources.base import SpecError

_environment: Any = None


def render(template: str, facts: Mapping[str, Any]) -> str:
    """Render a template with the target's facts.

    Raises:
        SpecError: the template does not parse, or uses a name the facts lack.
    """
    global _environment
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

    if _environment is None:
        _environment = SandboxedEnvironment(
            undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
        )
    try:
        return str(_environment.from_string(template).render(**facts))
    except jinja2.TemplateSyntaxError as exc:
        raise SpecError("template", f"syntax error at line {exc.lineno}: {exc.message}") from exc
    except jinja2.TemplateError as exc:
        raise SpecError("template", f"{type(exc).__name__}: {exc.message or exc}") from exc
    except Exception as exc:  # a filter or operator failing on the facts' values
        raise SpecError("template", f"{type(exc).__name__}: {exc}") from exc
