"""YAML with bounds: aliases counted, their expansion measured, nesting limited.

PyYAML's safe loader shares an aliased node instead of copying it, so a billion-laughs
document loads in a moment and explodes only later, when it is rendered, validated or
serialised (1 MB became a 157 MB event; a `values:` hung `state publish`). The composed
node graph is measured before anything is constructed: at most `YAML_ALIASES` aliases,
at most `YAML_EXPANDED_NODES` nodes added by expanding them, at most `JSON_DEPTH` deep.
"""

from __future__ import annotations

from typing import Any

from contracts import limits
from contracts.errors import ContractError


def load_yaml(text: str, source: str) -> Any:
    """Parse YAML text within the limits; ContractError names `source` and the reason."""
    import yaml

    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _measure(node, source)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ContractError(source, [("", f"invalid YAML{where}: {problem}")]) from exc
    except RecursionError as exc:
        raise ContractError(source, [("", "YAML nested too deep")]) from exc
    finally:
        loader.dispose()


def _measure(root: Any, source: str) -> None:
    """Count the nodes of the expanded document, without expanding it (iteratively)."""
    seen: set[int] = set()
    aliases = 0
    added = 0
    stack: list[tuple[Any, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, copied = stack.pop()
        if depth > limits.JSON_DEPTH:
            _refuse(source, f"nested {depth} deep", "JSON_DEPTH", limits.JSON_DEPTH)
        again = id(node) in seen
        seen.add(id(node))
        if again and not copied:
            aliases += 1
            if aliases > limits.YAML_ALIASES:
                _refuse(source, f"{aliases} aliases", "YAML_ALIASES", limits.YAML_ALIASES)
        if again or copied:
            added += 1
            if added > limits.YAML_EXPANDED_NODES:
                what = f"aliases expanding to more than {added - 1} nodes"
                _refuse(source, what, "YAML_EXPANDED_NODES", limits.YAML_EXPANDED_NODES)
        value = node.value
        if isinstance(value, list):
            inside = again or copied
            for item in value:
                parts = item if isinstance(item, tuple) else (item,)
                stack.extend((part, depth + 1, inside) for part in parts)


def _refuse(source: str, what: str, name: str, bound: int) -> None:
    env = limits.limit(name).env
    raise ContractError(source, [("", f"YAML {what}: exceeds the limit {env}={bound}")])
