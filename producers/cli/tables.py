"""The one way a command shows rows to a person: a rich table with its columns in order."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.table import Table


def table(
    columns: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    title: str | None = None,
    fold: bool = False,
) -> Table:
    """`rows` under `columns`, titled on the left when `title` is given.

    `fold` wraps a long cell onto more lines instead of cutting it: for listings whose cells
    (reasons, errors, ids) must be readable whole.
    """
    made = Table(title=title, title_justify="left")
    for column in columns:
        made.add_column(column, overflow="fold" if fold else "ellipsis")
    for row in rows:
        made.add_row(*row)
    return made
