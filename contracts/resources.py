"""Resource specs: one declared item of a desired state, as one union keyed on `kind`.

Adding a resource type means adding one spec model here (and its module in
`workers/engine/resources/`); the union below is the literal list the wire accepts.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contracts.engine_limits import COMMAND_TIMEOUT_S, FILE_CONTENT_BYTES
from contracts.fields import (
    SETID,
    check_argv,
    check_mode,
    check_path,
    check_regex,
    check_text,
)

#: An owner or group: a name, or a numeric id.
Principal = Annotated[str | int, Field(union_mode="left_to_right")]


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

    @property
    def refs(self) -> frozenset[str]:
        """Every word a later `requires` may use for this resource."""
        return frozenset(word for word in (self.name, self.path) if word)


class OwnedSpecBase(SpecBase):
    """Fields of the specs that manage a mode, an owner and a group."""

    mode: str | None = Field(default=None, description="Octal string such as '0644'.")
    owner: Principal | None = Field(
        default=None, description="User name or uid; set only where the worker may."
    )
    group: Principal | None = Field(
        default=None, description="Group name or gid; set only where the worker may."
    )

    allow_setid: bool = Field(
        default=False, description="Allow setuid/setgid bits in `mode` (refused otherwise)."
    )
    allow_hardlinks: bool = Field(
        default=False,
        description="Allow changing a regular file that has more than one hard link.",
    )

    _check_mode = field_validator("mode", mode="before")(classmethod(lambda cls, v: check_mode(v)))

    @model_validator(mode="after")
    def _no_setid(self) -> OwnedSpecBase:
        if self.mode is not None and int(self.mode, 8) & SETID and not self.allow_setid:
            raise ValueError(
                f"mode: {self.mode} sets setuid/setgid bits; refused unless allow_setid: true"
            )
        return self


class FileSpec(OwnedSpecBase):
    """A regular file with the given content (or rendered template), mode and ownership."""

    kind: Literal["file"] = "file"
    content: str | None = Field(
        default=None,
        description="Exact content. Without content or template only metadata is managed.",
    )
    template: str | None = Field(
        default=None,
        description="Jinja2 template rendered with the target's facts; unknown names are errors.",
    )
    sensitive: bool = Field(default=False, description="Never show content or diffs.")

    @model_validator(mode="after")
    def _no_sticky(self) -> FileSpec:
        if self.mode is not None and int(self.mode, 8) & 0o1000 and not self.allow_setid:
            raise ValueError(f"mode: {self.mode} sets the sticky bit (a file: allow_setid)")
        return self

    @model_validator(mode="after")
    def _content_or_template(self) -> FileSpec:
        # An empty content beside a template is what a full dump of this model carries on
        # the wire, so only a non-empty one clashes.
        if self.template is not None and self.content:
            raise ValueError("give either content or template, not both")
        for field in ("content", "template"):
            text = getattr(self, field)
            if (
                text is not None
                and len(text) > FILE_CONTENT_BYTES // 4
                and (len(text.encode("utf-8")) > FILE_CONTENT_BYTES)
            ):
                raise ValueError(
                    f"{field} is larger than FILE_CONTENT_BYTES ({FILE_CONTENT_BYTES} bytes)"
                )
        return self


class DirectorySpec(OwnedSpecBase):
    """A directory with the given mode; parents are created as needed."""

    kind: Literal["directory"] = "directory"
    recurse: bool = Field(
        default=False,
        description="Also set owner and group on everything beneath, and mode on subdirectories.",
    )


class SymlinkSpec(SpecBase):
    """A symbolic link at `path` pointing to `destination`, which must stay under the root."""

    kind: Literal["symlink"] = "symlink"
    destination: str = Field(description="Link text; relative destinations are safest.")
    force: bool = Field(
        default=False, description="Replace a file or empty directory found at `path`."
    )

    @field_validator("destination")
    @classmethod
    def _destination_text(cls, value: str) -> str:
        if not value or "\x00" in value:
            raise ValueError("destination must be a non-empty string without NUL bytes")
        return check_text(value, "destination")


class AbsentSpec(SpecBase):
    """A path that must not exist (a file, a link, or a directory with its contents)."""

    kind: Literal["absent"] = "absent"


class LineSpec(SpecBase):
    """A line that must (or must not) be present in an existing file."""

    kind: Literal["line"] = "line"
    line: str | None = Field(
        default=None,
        description="The whole line, without its newline (not needed for present: false + match).",
    )
    present: bool = True
    match: str | None = Field(
        default=None,
        description="Regex: matching lines are replaced by `line` (or removed if not present).",
    )
    create: bool = Field(
        default=False, description="Create the file (and its parent directories) if missing."
    )
    allow_hardlinks: bool = Field(
        default=False,
        description="Allow changing a regular file that has more than one hard link.",
    )
    sensitive: bool = Field(default=False, description="Never show content or diffs.")

    _check_match = field_validator("match")(classmethod(lambda cls, v: check_regex(v)))

    @field_validator("line")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        if value is not None and ("\n" in value or "\r" in value):
            raise ValueError("line may not contain a newline")
        return value

    @field_validator("match")
    @classmethod
    def _match_not_empty(cls, value: str | None) -> str | None:
        if value == "":
            raise ValueError("match may not be empty (it would match every line)")
        return value

    @model_validator(mode="after")
    def _line_needed(self) -> LineSpec:
        if self.line is None and (self.present or self.match is None):
            raise ValueError("line: required (except with present: false and a match)")
        return self


class CommandSpec(SpecBase):
    """A command run on the target unless its guards say it is done. Never a shell by default."""

    kind: Literal["command"] = "command"
    path: str = Field(default="/", description="Working directory under the root.")
    argv: tuple[str, ...] = Field(
        description="Program and arguments; with shell: true, one item holding the script."
    )
    shell: bool = Field(default=False, description="Run argv[0] (and guards) with /bin/sh -c.")
    creates: str | None = Field(default=None, description="Done when this path exists.")
    unless: tuple[str, ...] | None = Field(default=None, description="Done when this exits 0.")
    onlyif: tuple[str, ...] | None = Field(default=None, description="Run only if this exits 0.")
    timeout_s: float = Field(
        default=300.0,
        gt=0,
        le=COMMAND_TIMEOUT_S,
        description="Killed, with all it started, after this long (ceiling COMMAND_TIMEOUT_S).",
    )
    env: dict[str, str] = Field(default_factory=dict, description="Extra environment variables.")

    _check_argvs = field_validator("argv", "unless", "onlyif")(
        classmethod(lambda cls, v: check_argv(v))
    )
    _check_creates = field_validator("creates")(
        classmethod(lambda cls, v: None if v is None else check_path(v))
    )

    @model_validator(mode="after")
    def _shell_takes_one_script(self) -> CommandSpec:
        if self.shell:
            for field in ("argv", "unless", "onlyif"):
                value = getattr(self, field)
                if value is not None and len(value) != 1:
                    raise ValueError(f"with shell: true, {field} must be a single script string")
        return self

    @property
    def key(self) -> str:
        """How `requires` refers to this resource: its name, else its command line."""
        return self.name or " ".join(self.argv)

    @property
    def refs(self) -> frozenset[str]:
        """A command is named, or referred to by its command line (never by its directory)."""
        return frozenset({self.key})


ResourceSpec = Annotated[
    FileSpec | DirectorySpec | SymlinkSpec | AbsentSpec | LineSpec | CommandSpec,
    Field(discriminator="kind"),
]
