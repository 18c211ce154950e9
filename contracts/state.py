"""Desired state: the readiness checks and the ordered resources one target should have."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contracts.fields import check_argv, check_path
from contracts.resources import ResourceSpec
from contracts.waivers import Waiver


class CheckBase(BaseModel):
    """Fields every readiness check has."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timeout_s: float = Field(default=5.0, gt=0, le=600, description="Give up after this long.")


class PathExistsCheck(CheckBase):
    """Ready when a path exists under the target's root."""

    kind: Literal["path_exists"] = "path_exists"
    path: str

    _check_path = field_validator("path")(classmethod(lambda cls, v: check_path(v)))


class TcpPortCheck(CheckBase):
    """Ready when a TCP port accepts connections."""

    kind: Literal["tcp_port"] = "tcp_port"
    host: str = "127.0.0.1"
    port: int = Field(ge=1, le=65535)


class CommandCheck(CheckBase):
    """Ready when a command exits 0 (run in the root, without a shell unless shell: true)."""

    kind: Literal["command"] = "command"
    argv: tuple[str, ...]
    shell: bool = False

    _check_argv = field_validator("argv")(classmethod(lambda cls, v: check_argv(v)))

    @model_validator(mode="after")
    def _shell_takes_one_script(self) -> CommandCheck:
        if self.shell and len(self.argv) != 1:
            raise ValueError("with shell: true, argv must be a single script string")
        return self


class HttpCheck(CheckBase):
    """Ready when an HTTP(S) URL answers with a 2xx status."""

    kind: Literal["http"] = "http"
    url: str = Field(pattern=r"^https?://")


class UptimeCheck(CheckBase):
    """Ready when the machine has been up for at least `min_s` seconds."""

    kind: Literal["uptime"] = "uptime"
    min_s: float = Field(ge=0, description="Minimum uptime in seconds.")


CheckSpec = Annotated[
    PathExistsCheck | TcpPortCheck | CommandCheck | HttpCheck | UptimeCheck,
    Field(discriminator="kind"),
]


class DesiredState(BaseModel):
    """What one target should look like. Checks pass first; then resources apply in order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    checks: tuple[CheckSpec, ...] = Field(
        default=(), description="Readiness checks; if one fails, nothing is applied."
    )
    resources: tuple[ResourceSpec, ...] = Field(default=())
    values: dict[str, Any] = Field(
        default_factory=dict, description="Environment values that templates see as `values`."
    )
    waivers: tuple[Waiver, ...] = Field(
        default=(), description="Resources to leave alone, each with an owner and an expiry."
    )

    @model_validator(mode="after")
    def _requires_point_backwards(self) -> DesiredState:
        seen: set[str] = set()
        for index, spec in enumerate(self.resources):
            for needed in spec.requires:
                if needed not in seen:
                    raise ValueError(
                        f"resources.{index} ({spec.path}): requires {needed!r}, "
                        "which is not an earlier resource's name or path"
                    )
            seen.update(spec.refs)
        return self
