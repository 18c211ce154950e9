"""The source of truth: its files, its stored revisions, and what one target is given.

A source-of-truth directory (kept under version control) holds:

- `inventory.yaml`: `targets:`, as `contracts.inventory.Inventory` reads it;
- `roles/<name>.yaml`: `resources:`, the ordered resources of one role (`RoleFile`);
- `environments/<name>.yaml`: what differs in one environment (`EnvironmentFile`);
- `waivers.yaml`: `waivers:`, managed deviations with an owner and an expiry (`WaiversFile`);
- `issuers.yaml`: `issuers:`, who may send change events, their keys and scope
  (`contracts.issuers.IssuersFile`).

Validated together they form a `SourceBundle`; a published bundle is a `Revision`. What a
target receives is its `RenderedState`, and both push and pull deliver it as the same
`canonical_bytes`, so a worker, an agent and an auditor can compare states by hash.

Resource identity (`resource_id`) is the path, except for commands, whose `path` is only a
working directory: a command is known by its name, else its command line. Overlays replace,
duplicates clash and waivers cover resources by this identity.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import (
    AliasChoices,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
)

from contracts.inventory import Inventory
from contracts.issuers import Issuer
from contracts.resources import ResourceSpec
from contracts.state import DesiredState
from contracts.targets import Target
from contracts.waivers import Text, Waiver

__all__ = ["Text", "Waiver"]


def resource_id(spec: Any) -> str:
    """The identity of a resource spec: its path, or for a command its name or command line."""
    return spec.key if spec.kind == "command" else spec.path


def canonical_bytes(model: BaseModel) -> bytes:
    """The one serialisation we hash and ship: sorted keys, no spaces, ASCII only.

    Fields equal to their default are left out, except the `kind` tags of discriminated
    unions: the bytes parse back to an equal model (FileSpec refuses an explicit `content`
    next to a `template`, so a full dump would not), and a new optional field added to a
    contract later does not change the hash of content that does not use it.
    """
    data = model.model_dump(mode="json", exclude_defaults=True)
    _keep_tags(model.model_dump(mode="json"), data)
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def _keep_tags(full: Any, reduced: Any) -> None:
    """Put back every `kind` that `exclude_defaults` dropped (it is a Literal default)."""
    if isinstance(full, dict) and isinstance(reduced, dict):
        if "kind" in full and "kind" not in reduced:
            reduced["kind"] = full["kind"]
        for key, value in reduced.items():
            if key in full:
                _keep_tags(full[key], value)
    elif isinstance(full, list) and isinstance(reduced, list):
        for item_full, item_reduced in zip(full, reduced, strict=False):
            _keep_tags(item_full, item_reduced)


def content_hash(model: BaseModel) -> str:
    """`sha256:<hex>` of the canonical bytes."""
    return "sha256:" + hashlib.sha256(canonical_bytes(model)).hexdigest()


class RoleFile(BaseModel):
    """`roles/<name>.yaml`: the resources every target with this role gets, in order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    resources: tuple[ResourceSpec, ...] = Field(default=(), description="Applied in this order.")


class EnvironmentFile(BaseModel):
    """`environments/<name>.yaml`: what differs in one environment, and nothing else.

    `values` are handed to the targets of the environment (templates see them as
    `values`). A resource in `resources` replaces the role resource with the same identity
    on every target of the environment that has it, keeping its position; a resource whose
    identity no role declares is appended to every target of the environment.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    values: dict[str, Any] = Field(default_factory=dict, description="Overlay values.")
    resources: tuple[ResourceSpec, ...] = Field(
        default=(), description="Replacements (same identity as a role resource) or additions."
    )


class WaiversFile(BaseModel):
    """`waivers.yaml`: `waivers:`, a list of waivers."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    waivers: tuple[Waiver, ...] = Field(default=())


class Layer(BaseModel):
    """Resources a change event pushed inline, kept in the truth for the targets it chose.

    A push of inline resources is recorded as a revision with one more layer, so a later
    pull never reverts it and `provision state show` tells the whole truth. Layers carry
    over into every later revision, including ones published from the directory.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str = Field(description="The change event that pushed these resources.")
    targets: tuple[str, ...] = Field(description="The ids of the targets it was rolled out to.")
    resources: tuple[ResourceSpec, ...]


class SourceBundle(BaseModel):
    """A whole, validated source-of-truth directory: what a revision stores and hashes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    inventory: Inventory
    roles: dict[str, RoleFile] = Field(default_factory=dict)
    environments: dict[str, EnvironmentFile] = Field(default_factory=dict)
    waivers: tuple[Waiver, ...] = Field(default=())
    layers: tuple[Layer, ...] = Field(default=(), description="Inline pushes, oldest first.")
    issuers: tuple[Issuer, ...] = Field(
        default=(), description="Who may send change events (issuers.yaml)."
    )

    def target(self, target_id: str) -> Target | None:
        """The inventory's target with this id, if any."""
        return next((t for t in self.inventory.targets if t.id == target_id), None)


class Revision(BaseModel):
    """One published, immutable version of the source of truth."""

    model_config = ConfigDict(frozen=True, extra="forbid", serialize_by_alias=True)

    #: Called `number` in code, so that "sequence" means only the request fence; the JSON
    #: key stays `sequence` (read and written), as the CLI and the stored data have it.
    number: int = Field(
        ge=1,
        validation_alias=AliasChoices("number", "sequence"),
        serialization_alias="sequence",
        description="Increases by one with every new revision.",
    )
    content_hash: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    author: Text
    message: Text
    created_at: AwareDatetime


class RenderedState(BaseModel):
    """What one target is given at one revision: push and pull ship these exact bytes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    revision: int = Field(ge=1)
    target: str = Field(description="The target id.")
    desired: DesiredState
    values: dict[str, Any] = Field(
        default_factory=dict, description="The environment's overlay values, for templates."
    )
    waivers: tuple[Waiver, ...] = Field(
        default=(),
        description="Waivers that select this target and cover one of its resources; "
        "expired ones included, so the engine can say so.",
    )

    def desired_state(self) -> DesiredState:
        """What the engine converges: the resources, with the values and waivers it needs.

        Push and pull both call this on the same bytes, so they apply the very same thing.
        """
        return self.desired.model_copy(update={"values": self.values, "waivers": self.waivers})
