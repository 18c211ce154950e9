"""What changes between two revisions, target by target.

Targets are compared by their rendered state, so a change to a role shows up on exactly
the targets that have the role. Resources are matched by identity (`resource_id`): added,
removed, changed (any field differs) or only moved (`reordered`). Values and waivers are
compared too, and so are a target's own inventory fields (address, labels, region...).
Targets whose rendered state and inventory entry are equal are only counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from contracts.truth import RenderedState, SourceBundle, resource_id
from producers.truth.render import render


@dataclass
class TargetDiff:
    """The differences of one target present in both revisions."""

    target: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    reordered: bool = False
    values: list[str] = field(default_factory=list)
    waivers_added: list[str] = field(default_factory=list)
    waivers_removed: list[str] = field(default_factory=list)
    waivers_changed: list[str] = field(default_factory=list)
    inventory: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any(
            (
                self.added,
                self.removed,
                self.changed,
                self.reordered,
                self.values,
                self.waivers_added,
                self.waivers_removed,
                self.waivers_changed,
                self.inventory,
            )
        )

    def as_json(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if value or key == "target"}

    def summary(self) -> str:
        """One line, e.g. `+/etc/a ~/etc/b -/etc/c values: port`."""
        parts = [f"+{i}" for i in self.added] + [f"~{i}" for i in self.changed]
        parts += [f"-{i}" for i in self.removed]
        if self.reordered:
            parts.append("(reordered)")
        if self.values:
            parts.append("values: " + ", ".join(self.values))
        for word, ids in (
            ("+waiver", self.waivers_added),
            ("-waiver", self.waivers_removed),
            ("~waiver", self.waivers_changed),
        ):
            parts += [f"{word} {i}" for i in ids]
        if self.inventory:
            parts.append("inventory: " + ", ".join(self.inventory))
        return " ".join(parts)


@dataclass
class StateDiff:
    """Between revision `before` and revision `after`."""

    before: int
    after: int
    targets_added: list[str] = field(default_factory=list)
    targets_removed: list[str] = field(default_factory=list)
    changed: list[TargetDiff] = field(default_factory=list)
    unchanged: int = 0

    def as_json(self) -> dict[str, Any]:
        """The `provision state diff --json` object."""
        return {
            "from": self.before,
            "to": self.after,
            "targets_added": self.targets_added,
            "targets_removed": self.targets_removed,
            "changed": [d.as_json() for d in self.changed],
            "unchanged": self.unchanged,
        }


def _resources(state: RenderedState) -> dict[str, dict[str, Any]]:
    return {
        resource_id(spec): spec.model_dump(mode="json", exclude_defaults=True)
        for spec in state.desired.resources
    }


def compare_states(old: RenderedState, new: RenderedState) -> TargetDiff:
    """The differences between two rendered states of one target (revision ignored)."""
    result = TargetDiff(new.target)
    before, after = _resources(old), _resources(new)
    result.added = [i for i in after if i not in before]
    result.removed = [i for i in before if i not in after]
    result.changed = [i for i in after if i in before and before[i] != after[i]]
    kept_before = [i for i in before if i in after]
    kept_after = [i for i in after if i in before]
    result.reordered = kept_before != kept_after
    keys = sorted({*old.values, *new.values})
    result.values = [k for k in keys if old.values.get(k) != new.values.get(k)]
    w_before = {w.id: w for w in old.waivers}
    w_after = {w.id: w for w in new.waivers}
    result.waivers_added = [i for i in w_after if i not in w_before]
    result.waivers_removed = [i for i in w_before if i not in w_after]
    result.waivers_changed = [i for i in w_after if i in w_before and w_before[i] != w_after[i]]
    return result


def diff(old: SourceBundle, before: int, new: SourceBundle, after: int) -> StateDiff:
    """Per target: what changes from revision `before` (`old`) to revision `after` (`new`)."""
    result = StateDiff(before, after)
    old_targets = {t.id: t for t in old.inventory.targets}
    new_targets = {t.id: t for t in new.inventory.targets}
    result.targets_added = [i for i in new_targets if i not in old_targets]
    result.targets_removed = [i for i in old_targets if i not in new_targets]
    for target_id, target in new_targets.items():
        if target_id not in old_targets:
            continue
        change = compare_states(render(old, target_id, before), render(new, target_id, after))
        was, now = old_targets[target_id].model_dump(), target.model_dump()
        change.inventory = [k for k in now if k != "id" and was.get(k) != now[k]]
        if change:
            result.changed.append(change)
        else:
            result.unchanged += 1
    return result
