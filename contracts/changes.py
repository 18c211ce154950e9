"""Change requests: one target, one desired state, who asked and until when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.state import DesiredState
from contracts.targets import Target

#: The Celery task name a worker registers and a publisher names in the message header.
TASK_NAME = "provision.converge"
#: The `embed` of a task body: Celery's callbacks, errbacks, chain and chord, all empty.
#: A worker refuses a message that embeds anything (only TASK_NAME runs).
EMPTY_EMBED: dict[str, None] = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def task_headers(task_id: str, *, origin: str, kwargsrepr: str = "{}") -> dict[str, Any]:
    """The Celery protocol-2 headers of a TASK_NAME message `task_id`, a root of its own.

    No retries, ETA, expiry or time limit: a worker refuses what it is not told to expect.
    """
    return {
        "lang": "py",
        "task": TASK_NAME,
        "id": task_id,
        "root_id": task_id,
        "parent_id": None,
        "group": None,
        "retries": 0,
        "eta": None,
        "expires": None,
        "timelimit": [None, None],
        "argsrepr": "()",
        "kwargsrepr": kwargsrepr,
        "origin": origin,
        "ignore_result": True,
    }


def utcnow() -> datetime:
    """Timezone-aware now; naive datetimes never reach the wire."""
    return datetime.now(UTC)


class ChangeRequest(BaseModel):
    """A command: bring this one target to this desired state. Consumed by exactly one worker."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    change_id: str = Field(description="Id shared by every request of one change.")
    target: Target
    desired: DesiredState
    issued_by: str = Field(min_length=1, description="Who asked: a user or a service identity.")
    issued_at: AwareDatetime = Field(default_factory=utcnow)
    expires_at: AwareDatetime = Field(default_factory=lambda: utcnow() + timedelta(hours=1))
    dry_run: bool = Field(default=False, description="Report what would change; change nothing.")
    revision: int | None = Field(
        default=None, ge=1, description="The source-of-truth revision `desired` renders."
    )
    sequence: int | None = Field(
        default=None,
        ge=0,
        description=(
            "Grows with every request for this target. A request older than what the target "
            "has already applied is not applied and reports superseded. None: not fenced."
        ),
    )
    signature: str | None = Field(
        default=None,
        max_length=200,
        description=(
            "The controller's Ed25519 signature (standard base64) of this request without "
            "this field (contracts.controller_signatures). A worker refuses a request "
            "without a valid one."
        ),
    )
