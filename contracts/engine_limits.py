"""Named limits of the convergence engine, each a setting with a default.

Every limit can be overridden with an environment variable `PROVISION_LIMIT_<NAME>` (read
once, at import). A refusal names the limit and the value that crossed it, so an operator
knows which knob a legitimate state would need.
"""

from __future__ import annotations

import os


def _setting(name: str, default: float) -> float:
    """The limit `name`, from `PROVISION_LIMIT_<NAME>` when set to a positive number."""
    raw = os.environ.get(f"PROVISION_LIMIT_{name}")
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        return default
    return value if value > 0 else default


#: Bytes of `content` one `file` resource may carry (checked by the contract).
FILE_CONTENT_BYTES = int(_setting("FILE_CONTENT_BYTES", 4 * 1024 * 1024))
#: Bytes a rendered template may produce; rendering stops as soon as it goes past.
TEMPLATE_OUTPUT_BYTES = int(_setting("TEMPLATE_OUTPUT_BYTES", 4 * 1024 * 1024))
#: Seconds one template may take to render.
TEMPLATE_RENDER_S = _setting("TEMPLATE_RENDER_S", 2.0)
#: Items one `range()` in a template may produce.
TEMPLATE_RANGE_ITEMS = int(_setting("TEMPLATE_RANGE_ITEMS", 10_000))
#: Ceiling of any command's (and readiness command's) `timeout_s`.
COMMAND_TIMEOUT_S = _setting("COMMAND_TIMEOUT_S", 3600.0)
#: Bytes of one file shown as a diff in a dry run; larger (or non-text) files get a note.
DIFF_BYTES = int(_setting("DIFF_BYTES", 64 * 1024))

#: Every limit by its setting name, for the README and for refusals.
LIMITS = {
    "FILE_CONTENT_BYTES": FILE_CONTENT_BYTES,
    "TEMPLATE_OUTPUT_BYTES": TEMPLATE_OUTPUT_BYTES,
    "TEMPLATE_RENDER_S": TEMPLATE_RENDER_S,
    "TEMPLATE_RANGE_ITEMS": TEMPLATE_RANGE_ITEMS,
    "COMMAND_TIMEOUT_S": COMMAND_TIMEOUT_S,
    "DIFF_BYTES": DIFF_BYTES,
}
