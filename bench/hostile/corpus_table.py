"""How a corpus module declares its classes: one decorator beside the code of each.

A class is a function that makes ONE hostile input from the context and the class's
seeded generator; `Table.input_class` names it, says where it goes and how many variations
a run sends, and keeps the declaration order (an input's id follows that order). The
function is called once per variation, so a class never repeats the loop that gathers them.
"""

from __future__ import annotations

from collections.abc import Callable
from random import Random

from bench.hostile.model import Ctx, EntryPoint, Input, InputClass

#: One variation of a class: what `make(ctx, rng, n)` calls n times.
Variation = Callable[[Ctx, Random], Input]


def repeated(variation: Variation) -> Callable[[Ctx, Random, int], list[Input]]:
    """`InputClass.make` from one variation: n calls on the same generator, in order."""

    def make(ctx: Ctx, rng: Random, n: int) -> list[Input]:
        return [variation(ctx, rng) for _ in range(n)]

    return make


class Table:
    """The classes of one corpus module, in the order they are declared."""

    def __init__(self) -> None:
        self._classes: list[InputClass] = []

    def input_class(
        self, name: str, entry: EntryPoint, full: int, quick: int = 3, deferred: str = ""
    ) -> Callable[[Variation], Variation]:
        """Declare the decorated variation as the class `name` (see `InputClass`)."""

        def declare(variation: Variation) -> Variation:
            self._classes.append(
                InputClass(name, entry, repeated(variation), full, quick, deferred)
            )
            return variation

        return declare

    def classes(self) -> list[InputClass]:
        return list(self._classes)
