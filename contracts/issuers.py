"""Issuers: who may send change events, with which keys, and what each may change.

`issuers.yaml` in a source-of-truth directory lists them, so granting a service the right
to change something is a reviewed commit and a revision like any other:

```yaml
issuers:
  - name: deploy-service
    keys:
      - id: ed25519:0123456789abcdef      # the value of the x-provision-key-id header
        public_key: |                      # exactly what `openssl pkey -pubout` prints
          -----BEGIN PUBLIC KEY-----
          ...
          -----END PUBLIC KEY-----
    scope:
      selectors: [{environment: prod, labels: {role: web}}]  # absent: any target
      kinds: [file, directory]             # absent: every resource kind
      paths: [/etc/app]                    # absent: any path; else at or under one of these
      shell: false                         # may it send `command` with `shell: true`
      allow_setid: false                   # may it send `allow_setid: true`
      max_targets: 50                      # absent: only the global TARGETS_PER_EVENT
```

A scope says what an issuer may do; anything it does not grant is refused. A scope that
restricts selectors also refuses inline fleets (`targets` in the event): an issuer that
could name its own targets could name any address.
"""

from __future__ import annotations

import posixpath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator, model_validator

from contracts.signatures import BadKey, load_public_key
from contracts.targets import Selector

#: The resource kinds a scope may name (the engine's table; checked here so a typo is an
#: error naming the field rather than a scope that silently grants nothing).
Kind = Literal["file", "directory", "symlink", "absent", "line", "command"]
#: Issuer names and key ids: short, printable, no spaces (they go into headers and logs).
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@:+-]{0,99}$"


class IssuerKey(BaseModel):
    """One key of an issuer: the id its events name, and its Ed25519 public key in PEM."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=NAME_PATTERN, description="The value of x-provision-key-id.")
    public_key: str = Field(
        max_length=4096, description="Ed25519 public key, PEM (`openssl pkey -pubout`)."
    )

    @field_validator("public_key")
    @classmethod
    def _ed25519(cls, pem: str) -> str:
        try:
            load_public_key(pem)
        except BadKey as exc:
            raise ValueError(str(exc)) from None
        return pem


class Scope(BaseModel):
    """What an issuer may change. Every field left out grants nothing more than its default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    selectors: tuple[Selector, ...] | None = Field(
        default=None,
        description="Every target an event selects must match one of these; absent: any.",
    )
    kinds: tuple[Kind, ...] | None = Field(
        default=None, description="Resource kinds it may send; absent: every kind."
    )
    paths: tuple[str, ...] | None = Field(
        default=None,
        description="Resource paths must be at or under one of these; absent: any path.",
    )
    shell: bool = Field(default=False, description="May send `command` with `shell: true`.")
    allow_setid: bool = Field(default=False, description="May send `allow_setid: true`.")
    max_targets: PositiveInt | None = Field(
        default=None, description="The most targets one event may select."
    )

    @field_validator("paths")
    @classmethod
    def _absolute(cls, paths: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if paths is None:
            return None
        cleaned = []
        for path in paths:
            if not path.startswith("/") or "\x00" in path or len(path) > 4096:
                raise ValueError(f"{path[:100]!r} is not an absolute path")
            cleaned.append(posixpath.normpath(path))
        return tuple(cleaned)

    @property
    def grants_every_resource(self) -> bool:
        """Whether any desired state at all is within this scope (a revision may hold any)."""
        return self.kinds is None and self.paths is None and self.shell and self.allow_setid

    def covers_path(self, path: str) -> bool:
        """Whether `path` is at or under one of `paths` (compared after normalising)."""
        if self.paths is None:
            return True
        path = posixpath.normpath(path) if path.startswith("/") else path
        return any(path == root or path.startswith(root.rstrip("/") + "/") for root in self.paths)


class Issuer(BaseModel):
    """A service or person allowed to send change events, its keys and its scope."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="Recorded as the event's issued_by.")
    keys: tuple[IssuerKey, ...] = Field(min_length=1)
    scope: Scope = Field(default_factory=Scope)

    @model_validator(mode="after")
    def _distinct_keys(self) -> Issuer:
        ids = [key.id for key in self.keys]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"keys: id {repeated[0]!r} is listed twice")
        return self


class IssuersFile(BaseModel):
    """`issuers.yaml`: `issuers:`, a list of issuers; names and key ids are unique."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    issuers: tuple[Issuer, ...] = Field(default=())

    @model_validator(mode="after")
    def _distinct(self) -> IssuersFile:
        names: set[str] = set()
        keys: dict[str, str] = {}
        for issuer in self.issuers:
            if issuer.name in names:
                raise ValueError(f"issuer {issuer.name!r} is listed twice")
            names.add(issuer.name)
            for key in issuer.keys:
                if key.id in keys:
                    raise ValueError(
                        f"key id {key.id!r} of {issuer.name!r} is also {keys[key.id]!r}'s"
                    )
                keys[key.id] = issuer.name
        return self
