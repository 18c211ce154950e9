"""The readable table (plain text, or markdown for the README) and results.json."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from bench.keys import KEYS


def show(value: float | None, unit: str) -> str:
    """A figure as a person reads it: rates and sizes rounded, ratios with two decimals."""
    if value is None:
        return "n/a"
    if unit == "x":
        return f"{value:.2f}x"
    if unit in ("/s", "MiB", ""):
        return f"{value:,.0f}{' ' + unit if unit else ''}"
    if unit == "ms":
        return f"{value:,.1f} ms"
    return f"{value:.2f} s" if value < 100 else f"{value:,.0f} s"


def _verdict(passed: bool | None) -> str:
    return {True: "PASS", False: "FAIL", None: "n/a"}[passed]


def tables(results: dict[str, Any]) -> list[Table]:
    """The measurements by benchmark, then the figures to reach, then the notes."""
    measured = Table(
        title=f"benchmarks ({results['mode']} run, medians)",
        box=box.SIMPLE,
        title_justify="left",
    )
    measured.add_column("benchmark")
    measured.add_column("key")
    measured.add_column("value", justify="right")
    for bench, rows in KEYS.items():
        for index, (key, unit) in enumerate(rows):
            measured.add_row(bench if index == 0 else "", key, show(results.get(key), unit))
    figures = Table(title="figures to reach", box=box.SIMPLE, title_justify="left")
    for column in ("figure", "value", "result"):
        figures.add_column(column, justify="right" if column == "value" else "left")
    for judged in results["figures"].values():
        value = judged["value"]
        figures.add_row(
            judged["target"], "n/a" if value is None else f"{value:.2f}", _verdict(judged["pass"])
        )
    out = [measured, figures]
    grouped: dict[str, list[str]] = {}
    for key, why in results["notes"].items():
        grouped.setdefault(why, []).append(key)
    if grouped:
        notes = Table(title="notes", box=box.SIMPLE, title_justify="left")
        notes.add_column("keys", overflow="fold", max_width=40)
        notes.add_column("why", overflow="fold")
        for why, keys in grouped.items():
            notes.add_row(", ".join(keys), why)
        out.append(notes)
    return out


def text(results: dict[str, Any], width: int = 110) -> str:
    """The tables as plain text, no colour, fit for a terminal, a log or a file."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False)
    for table in tables(results):
        console.print(table)
    return buffer.getvalue()


def markdown(results: dict[str, Any]) -> str:
    """The measurements and figures as two markdown tables, for the README."""
    lines = ["| benchmark | key | value |", "|---|---|---:|"]
    for bench, rows in KEYS.items():
        for key, unit in rows:
            lines.append(f"| {bench} | `{key}` | {show(results.get(key), unit)} |")
    lines += ["", "| figure to reach | value | result |", "|---|---:|---|"]
    for judged in results["figures"].values():
        value = "n/a" if judged["value"] is None else f"{judged['value']:.2f}"
        lines.append(f"| `{judged['target']}` | {value} | {_verdict(judged['pass'])} |")
    return "\n".join(lines) + "\n"


def write(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
