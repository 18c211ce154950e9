"""Every class of the corpus, and the seeded expansion of classes into inputs."""

from __future__ import annotations

from collections.abc import Iterator
from random import Random

from bench.hostile import (
    corpus_events,
    corpus_files,
    corpus_local,
    corpus_messages,
    corpus_tasks,
    corpus_wire,
)
from bench.hostile.model import Ctx, Input, InputClass

SEED = 20261130


def classes() -> list[InputClass]:
    return [
        *corpus_events.classes(),
        *corpus_tasks.classes(),
        *corpus_wire.classes(),
        *corpus_messages.classes(),
        *corpus_files.classes(),
        *corpus_local.classes(),
    ]


def count(spec: InputClass, per_class: int | None) -> int:
    """Variations of a class: `full` of them, or at most `per_class` (quick, tiny)."""
    return spec.full if per_class is None else min(spec.quick, per_class)


def inputs(ctx: Ctx, per_class: int | None, seed: int = SEED) -> Iterator[Input]:
    """Each class's variations, made class by class as they are sent (bodies are big).

    Each class has its own generator seeded from (seed, class name), so adding a class
    leaves every other class's inputs as they were.
    """
    made = 0
    for spec in classes():
        for item in spec.make(ctx, Random(f"{seed}:{spec.name}"), count(spec, per_class)):
            item.cls = spec.name
            item.entry = spec.entry
            item.ident = f"hostile-{made:05d}"
            made += 1
            yield item
