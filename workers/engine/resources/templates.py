"""File templates: Jinja2, sandboxed, with unknown variables as errors, and bounded.

Rendering is streamed and stops at TEMPLATE_OUTPUT_BYTES of output or TEMPLATE_RENDER_S
seconds; `range()` yields at most TEMPLATE_RANGE_ITEMS items and checks the clock on each,
so nested loops that print nothing stop too; `*` on strings and lists is bounded as well.
Jinja2 is imported on first use, so states without templates never pay for it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from typing import Any

from contracts.engine_limits import (
    TEMPLATE_OUTPUT_BYTES,
    TEMPLATE_RANGE_ITEMS,
    TEMPLATE_RENDER_S,
)
from workers.engine.resources.base import SpecError

_environment: Any = None


class TemplateLimit(Exception):
    """A render crossed one of the named template limits."""


class _Clock:
    """The deadline of the render in progress (one render at a time per process thread)."""

    deadline = 0.0

    @classmethod
    def check(cls) -> None:
        if time.monotonic() > cls.deadline:
            raise TemplateLimit(
                f"rendering took longer than TEMPLATE_RENDER_S ({TEMPLATE_RENDER_S}s)"
            )


def _range(*args: int) -> Iterator[int]:
    """`range` for templates: bounded in length, and watching the clock on every item."""
    numbers = range(*args)
    if len(numbers) > TEMPLATE_RANGE_ITEMS:
        raise TemplateLimit(
            f"range of {len(numbers)} items is above TEMPLATE_RANGE_ITEMS ({TEMPLATE_RANGE_ITEMS})"
        )
    for number in numbers:
        _Clock.check()
        yield number


_WIDE = re.compile(r"\d{7,}")


def _check_sizes(*values: Any) -> None:
    """Refuse an argument that asks for more than the output may hold before it is built:
    a number (a width, a count) or a format string with a width above TEMPLATE_OUTPUT_BYTES.
    """
    for value in values:
        if isinstance(value, int) and abs(value) > TEMPLATE_OUTPUT_BYTES:
            raise TemplateLimit(f"argument {value} is above TEMPLATE_OUTPUT_BYTES")
        if isinstance(value, str) and ("%" in value or "{" in value):
            wide = _WIDE.search(value)
            if wide is not None and int(wide.group()) > TEMPLATE_OUTPUT_BYTES:
                raise TemplateLimit(f"format width {wide.group()} is above TEMPLATE_OUTPUT_BYTES")


def _bounded_filter(function: Any) -> Any:
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _Clock.check()
        _check_sizes(*args, *kwargs.values())
        return function(*args, **kwargs)

    bounded.__dict__.update(function.__dict__)  # keeps pass_context/pass_environment marks
    return bounded


def _environment_class() -> Any:
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

    class Bounded(SandboxedEnvironment):  # type: ignore[misc]
        """The sandbox, with every call and `*`/`**` watched."""

        intercepted_binops = frozenset({"*", "**", "%"})

        def call(self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
            _Clock.check()
            if __obj is not _range:  # range names its own limit
                bound = getattr(getattr(__obj, "__wrapped__", __obj), "__self__", None)
                _check_sizes(bound, *args, *kwargs.values())
            return super().call(__context, __obj, *args, **kwargs)

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            _Clock.check()
            if operator == "%":
                _check_sizes(left)
            if operator == "**" and isinstance(right, int) and abs(right) > 1000:
                raise TemplateLimit(f"exponent {right} is too large")
            if operator == "*":
                for sized, count in ((left, right), (right, left)):
                    sequence = isinstance(sized, (str, list, tuple)) and isinstance(count, int)
                    if sequence and len(sized) * count > TEMPLATE_OUTPUT_BYTES:
                        raise TemplateLimit(
                            f"repetition above TEMPLATE_OUTPUT_BYTES ({TEMPLATE_OUTPUT_BYTES})"
                        )
            return super().call_binop(context, operator, left, right)

    environment = Bounded(
        undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
    )
    environment.globals["range"] = _range
    environment.globals.pop("lipsum", None)
    for name in ("center", "format", "indent", "wordwrap", "truncate", "batch", "slice"):
        environment.filters[name] = _bounded_filter(environment.filters[name])
    return environment


def render(template: str, facts: Mapping[str, Any]) -> str:
    """Render a template with the target's facts, within the template limits.

    Raises:
        SpecError: the template does not parse, uses a name the facts lack, or crosses a
            limit (the message names the limit).
    """
    global _environment
    import jinja2

    if _environment is None:
        _environment = _environment_class()
    _Clock.deadline = time.monotonic() + TEMPLATE_RENDER_S
    try:
        pieces: list[str] = []
        size = 0
        for piece in _environment.from_string(template).generate(**facts):
            size += len(piece)
            if size > TEMPLATE_OUTPUT_BYTES:
                raise TemplateLimit(
                    f"output is larger than TEMPLATE_OUTPUT_BYTES ({TEMPLATE_OUTPUT_BYTES})"
                )
            _Clock.check()
            pieces.append(piece)
        text = "".join(pieces)
    except TemplateLimit as exc:
        raise SpecError("template", str(exc)) from None
    except jinja2.TemplateSyntaxError as exc:
        raise SpecError("template", f"syntax error at line {exc.lineno}: {exc.message}") from exc
    except jinja2.TemplateError as exc:
        raise SpecError("template", f"{type(exc).__name__}: {exc.message or exc}") from exc
    except Exception as exc:  # a filter or operator failing on the facts' values
        raise SpecError("template", f"{type(exc).__name__}: {exc}") from exc
    if len(text.encode("utf-8")) > TEMPLATE_OUTPUT_BYTES:
        raise SpecError(
            "template", f"output is larger than TEMPLATE_OUTPUT_BYTES ({TEMPLATE_OUTPUT_BYTES})"
        )
    return text
