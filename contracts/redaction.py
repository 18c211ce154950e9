"""`sensitive` is a property of the path: what every display and record of a state hides.

Once any `file` or `line` resource of a state says `sensitive: true`, its path is
sensitive for the whole state: every `file` and `line` on that path is treated as
sensitive, whatever it says itself. The engine marks them (`mark_sensitive`) so no diff
or summary shows content; producers and workers store and show a redacted copy
(`redact`) in which a digest and a size stand in for the content. The wire copy (the
change request, the rendered state an agent fetches) keeps the real content: the target
needs it.

`redact` works on plain JSON values, so one function serves every document that holds
resources: a rendered state, a change event, a Celery task message, a dead letter.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from collections.abc import Iterable, Sequence
from typing import Any

from contracts import limits

#: The resource kinds that carry content, and the fields that hold it.
CONTENT_FIELDS = {"file": ("content", "template"), "line": ("line", "match")}

#: `values.name` or `values["name"]` inside a template.
_VALUE_REF = re.compile(r"""values\s*(?:\.\s*(\w+)|\[\s*['"]([^'"]+)['"]\s*\])""")


def normal_path(path: str) -> str:
    """One spelling per path: `/etc//app/./x` and `etc/app/x` are both `/etc/app/x`."""
    return posixpath.normpath("/" + path.lstrip("/"))


def stand_in(value: Any) -> str:
    """What is shown instead of a sensitive value: its sha256 and its size."""
    data = value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogateescape")
    return f"<sensitive sha256:{hashlib.sha256(data).hexdigest()} {len(data)} bytes>"


def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def sensitive_paths(resources: Iterable[Any]) -> frozenset[str]:
    """The normalised paths some `file` or `line` resource marks sensitive.

    Takes resource specs (models) or their JSON dicts alike.
    """
    found = set()
    for item in resources:
        path = _field(item, "path")
        marked = _field(item, "kind") in CONTENT_FIELDS and _field(item, "sensitive") is True
        if marked and isinstance(path, str):
            found.add(normal_path(path))
    return frozenset(found)


def mark_sensitive(resources: Sequence[Any]) -> tuple[Any, ...]:
    """The specs, with every `file` and `line` on a sensitive path marked `sensitive`."""
    paths = sensitive_paths(resources)
    return tuple(
        spec.model_copy(update={"sensitive": True})
        if spec.kind in CONTENT_FIELDS and not spec.sensitive and normal_path(spec.path) in paths
        else spec
        for spec in resources
    )


def _collect(value: Any, found: list[dict[str, Any]]) -> None:
    """Every dict that looks like a content-carrying resource, anywhere in `value`."""
    if isinstance(value, dict):
        if value.get("kind") in CONTENT_FIELDS and isinstance(value.get("path"), str):
            found.append(value)
        for item in value.values():
            _collect(item, found)
    elif isinstance(value, list | tuple):
        for item in value:
            _collect(item, found)


def _value_names(resources: Iterable[dict[str, Any]]) -> set[str] | None:
    """The `values` keys sensitive templates use; None when one uses `values` as a whole."""
    names: set[str] = set()
    for spec in resources:
        template = spec.get("template")
        if not isinstance(template, str) or "values" not in template:
            continue
        refs = _VALUE_REF.findall(template)
        if len(refs) != template.count("values"):
            return None
        names.update(a or b for a, b in refs)
    return names


def _rewrite(value: Any, paths: frozenset[str], names: set[str] | None) -> Any:
    if isinstance(value, list | tuple):
        return [_rewrite(item, paths, names) for item in value]
    if not isinstance(value, dict):
        return value
    out = {key: _rewrite(item, paths, names) for key, item in value.items()}
    kind, path = value.get("kind"), value.get("path")
    if kind in CONTENT_FIELDS and isinstance(path, str) and normal_path(path) in paths:
        for name in (*CONTENT_FIELDS[kind], "diff"):
            if isinstance(out.get(name), str) and out[name]:
                out[name] = stand_in(out[name])
        if "status" not in value:  # a spec, not an outcome naming the same path
            out["sensitive"] = True
    values = out.get("values")
    if isinstance(values, dict):
        out["values"] = {
            key: stand_in(json.dumps(item, sort_keys=True))
            if names is None or key in names
            else item
            for key, item in values.items()
        }
    return out


def redact(document: Any) -> Any:
    """A copy of a JSON value in which no sensitive path's content (or template value) shows.

    The sensitive paths are collected over the whole document first, so a `line` in one
    place is hidden because a `file` elsewhere in the same document is sensitive.
    """
    found: list[dict[str, Any]] = []
    _collect(document, found)
    paths = sensitive_paths(found)
    if not paths:
        return document
    marked = [spec for spec in found if normal_path(spec["path"]) in paths]
    return _rewrite(document, paths, _value_names(marked))


def redact_text(text: str | bytes) -> str:
    """A stored or shown document as text, redacted.

    JSON is redacted field by field; text that is not JSON but mentions `sensitive` is
    replaced whole by its digest and size (it cannot be read field by field, so it is not
    shown at all).
    """
    raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    try:
        if limits.json_depth(raw) > limits.JSON_DEPTH:  # json.loads would recurse too deep
            raise ValueError("nested too deep to read")
        document = json.loads(raw)
    except (ValueError, RecursionError):
        return stand_in(raw) if "sensitive" in raw.lower() else raw
    redacted = redact(document)
    return raw if redacted is document else json.dumps(redacted, sort_keys=True)


def has_sensitive(document: Any) -> bool:
    """Whether a JSON value holds any resource on a sensitive path."""
    found: list[dict[str, Any]] = []
    _collect(document, found)
    return bool(sensitive_paths(found))
