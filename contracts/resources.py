"""Resource specs: one declared item of a desired state, as one union keyed on `kind`.

Adding a resource type means adding one spec model here (and its module in
`workers/resources/`); the union below is the literal list the wire accepts.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

_MODE = re.compile(r"^0?[0-7]{3,4}$")


def check_path(value: str) -> str:
    """A spec path is POSIX, free of NUL and `..`; it is read relative to the target's root."""
    if not value or "\x00" in value:
        raise ValueError("path must be a non-empty string without NUL bytes")
    if ".." in PurePosixPath(value).parts:
        raise ValueError("path may not contain '..': every path stays under the target's root")
    return value


def check_mode(value: str | None) -> str | None:
    """Modes are octal strings such as "0644", so YAML never reads them as decimal."""
    if value is None:
        return None
    if not isinstance(value, str) or not _MODE.match(value):
        raise ValueError(f"mode must be an octal string such as '0644', got {value!r}")
    return value.zfill(4)


class SpecBase(BaseModel):
    """Fields every resource spec has."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str = Field(description="Path under the target's root, e.g. /etc/motd.")
    name: str | None = Field(
        default=None, description="Optional name that `requires` of later resources can use."
    )
    requires: tuple[str, ...] = Field(
        default=(), description="Names (or paths) of earlier resources this one depends on."
    )

    _check_path = field_validator("path")(classmethod(lambda cls, v: check_path(v)))

    @property
    def key(self) -> str:
        """How `requires` refers to this resource: its name, else its path."""
        return self.name or self.path


class FileSpec(SpecBase):
    """A regular file with the given content and mode."""

    kind: Literal["file"] = "file"
    content: str = ""
    mode: str | None = Field(default=None, description="Octal string such as '0644'.")
    sensitive: bool = Field(default=False, description="Never show content or diffs.")

    _check_mode = field_validator("mode", mode="before")(
        classmethod(lambda cls, v: check_mode(v))
    )


class DirectorySpec(SpecBase):
    """A directory with the given mode; parents are created as needed."""

    kind: Literal["directory"] = "directory"
    mode: str | None = Field(default=None, description="Octal string such as '0755'.")

    _check_mode = field_validator("mode", mode="before")(
        classmethod(lambda cls, v: check_mode(v))
    )


ResourceSpec = Annotated[FileSpec | DirectorySpec, Field(discriminator="kind")]
