"""The table per class and the one JSON object the issue names."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

from bench.hostile.model import Result, Verdict


def _deferred() -> dict[str, str]:
    """Class name → the issue that will refuse it (InputClass.deferred)."""
    from bench.hostile import corpus

    return {c.name: c.deferred for c in corpus.classes() if c.deferred}


def summary(results: list[Result], extra: dict[str, Any]) -> dict[str, Any]:
    later = _deferred()
    counts = Counter(r.verdict for r in results)
    deferred = sum(1 for r in results if r.verdict == Verdict.ACCEPTED and r.input.cls in later)
    return {
        "inputs": len(results),
        "classes": len({r.input.cls for r in results}),
        "refused": counts[Verdict.REFUSED],
        "crashed": counts[Verdict.CRASHED],
        "accepted": counts[Verdict.ACCEPTED] - deferred,
        "deferred": deferred,
        "deferred_classes": {n: why for n, why in later.items() if n in _per_class(results)},
        **extra,
        "per_class": {
            name: {v.value: n for v, n in per.items()} for name, per in _per_class(results).items()
        },
    }


def _per_class(results: list[Result]) -> dict[str, Counter[Verdict]]:
    per: dict[str, Counter[Verdict]] = defaultdict(Counter)
    for r in results:
        per[r.input.cls][r.verdict] += 1
    return per


def table(results: list[Result], extra: dict[str, Any]) -> str:
    """One row per class: counts per verdict, and what the first bad input did."""
    per = _per_class(results)
    example: dict[str, str] = {}
    for r in results:
        if r.verdict != Verdict.REFUSED and r.input.cls not in example:
            example[r.input.cls] = f"{r.verdict.value}: {r.detail}"
        example.setdefault(r.input.cls, "")
    width = max(len(name) for name in per) if per else 10
    lines = [f"{'class':<{width}}  inputs refused crashed accepted  first bad input"]
    for name, counts in per.items():
        total = sum(counts.values())
        lines.append(
            f"{name:<{width}}  {total:>6} {counts[Verdict.REFUSED]:>7} "
            f"{counts[Verdict.CRASHED]:>7} {counts[Verdict.ACCEPTED]:>8}  "
            f"{example[name][:110]}"
        )
    data = summary(results, extra)
    lines.append(
        f"{'total':<{width}}  {data['inputs']:>6} {data['refused']:>7} "
        f"{data['crashed']:>7} {data['accepted']:>8}  in {data['classes']} classes"
        f" ({data['deferred']} accepted in classes deferred to a later issue, below)"
    )
    lines += [f"deferred: {name}: {why}" for name, why in data["deferred_classes"].items()]
    lines.append(
        f"canaries applied {data['canaries_applied']} of {data['canaries_sent']}; "
        f"Redis grew {data['redis_growth_bytes']} bytes; restarts {data['restarts']}; "
        f"max RSS MiB {data['max_rss_mb']}"
    )
    return "\n".join(lines) + "\n"


def details(results: list[Result]) -> str:
    """Every input's verdict, one JSON object a line: for the post-mortem of a class."""
    rows = [
        {
            "id": r.input.ident,
            "class": r.input.cls,
            "entry": r.input.entry.value,
            "verdict": r.verdict.value,
            "detail": r.detail,
            "seconds": round(r.seconds, 3),
        }
        for r in results
    ]
    return "".join(json.dumps(row) + "\n" for row in rows)
