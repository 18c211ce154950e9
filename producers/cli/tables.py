"""The one way a command shows rows to a person: a rich table with its columns in order."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from rich.table import Table


def table(
    columns: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    title: str | None = None,
    fold: bool = False,
    whole: Collection[str] = (),
) -> Table:
    """`rows` under `columns`, titled on the left when `title` is given.

    `fold` wraps a long cell onto more lines instead of cutting it: for listings whose cells
    (reasons, errors, ids) must be readable whole. The `whole` columns (trace ids, which
    are copied into a tracing backend's search box) are never wrapped nor cut: the other
    columns give way.
    """
    rows = [tuple(row) for row in rows]
    made = Table(title=title, title_justify="left")
    for index, column in enumerate(columns):
        if column in whole:
            widest = max((len(row[index]) for row in rows), default=0)
            made.add_column(
                column, no_wrap=True, overflow="ignore", min_width=max(widest, len(column))
            )
        else:
            made.add_column(column, overflow="fold" if fold else "ellipsis")
    for row in rows:
        made.add_row(*row)
    return made
