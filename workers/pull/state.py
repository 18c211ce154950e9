"""What a pull agent keeps on its own disk: credentials, the last applied state, an outbox.

Everything lives in the credentials directory (DIR/credentials.json from `provision
enroll`, then DIR/state/): the last applied revision with its exact rendered bytes and
the target it was for, so the agent can converge and detect drift while the control plane
is unreachable (as a Puppet agent falls back to its cached catalog); and the outcomes it
could not send yet, one file each, sent at the next successful connection.

Writes are atomic (temporary file, fsync, rename), so a crash leaves the old file or the
new one, never half of one.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from contracts import ContractError, OutcomeEvent, Target, limits
from contracts.checkins import Credentials
from contracts.private_files import PrivateFileError, read_private, write_private

CREDENTIALS_FILE = "credentials.json"
#: The largest file of each kind the agent reads back: bounded, so a file swapped in (a
#: FIFO, a huge one) can neither wedge nor flood it. A kept state is a rendered state
#: (STATE_BYTES) inside JSON, whose escapes may grow it up to six times.
CREDENTIALS_BYTES = 64 * 1024
APPLIED_BYTES = 6 * limits.STATE_BYTES + 64 * 1024
PENDING_BYTES = 2 * limits.OUTCOME_BYTES


def load_credentials(directory: Path) -> Credentials:
    """DIR/credentials.json. Raises ContractError naming the file and the problem."""
    path = directory / CREDENTIALS_FILE
    try:  # the agent's key: only its owner may read it, as `provision enroll` writes it
        text = read_private(path, CREDENTIALS_BYTES).decode("utf-8", errors="replace")
    except PrivateFileError as exc:
        hint = "; run `provision enroll` first" if exc.problem == "open" else ""
        raise ContractError(str(path), [("", exc.reason + hint)]) from None
    try:
        return Credentials.model_validate_json(text)
    except ValidationError as exc:
        raise ContractError.from_validation(str(path), exc) from exc


class LastApplied(BaseModel):
    """The last state this target applied successfully (not in report-only mode)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    revision: int
    change_id: str
    state: str  # the RenderedState's canonical bytes, exactly as received
    target: Target
    #: The check-in reply's sequence for this state (None from older agents' files).
    sequence: int | None = None


class Pending(BaseModel):
    """An outcome waiting to be sent, with where it goes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    routing_key: str
    event: OutcomeEvent


class AgentState:
    """DIR/state/: `applied.json` and `outbox/<event id>.json`."""

    def __init__(self, directory: Path) -> None:
        self.root = directory / "state"
        self.applied_file = self.root / "applied.json"
        self.outbox = self.root / "outbox"

    def applied(self) -> LastApplied | None:
        """The last applied state, or None (never applied, or the file is unreadable)."""
        try:
            text = read_private(self.applied_file, APPLIED_BYTES, private=False)
            return LastApplied.model_validate_json(text)
        except (PrivateFileError, ValidationError):
            return None

    def save(self, applied: LastApplied) -> None:
        write_private(self.applied_file, applied.model_dump_json())

    def keep(self, routing_key: str, event: OutcomeEvent) -> None:
        """Put an outcome in the outbox."""
        pending = Pending(routing_key=routing_key, event=event)
        write_private(self.outbox / f"{event.outcome_id}.json", pending.model_dump_json())

    def pending(self) -> list[Pending]:
        """The outbox, oldest first; unreadable entries are dropped."""
        if not self.outbox.is_dir():
            return []
        found = []
        for path in sorted(self.outbox.glob("*.json"), key=lambda p: p.stat().st_mtime):
            try:
                text = read_private(path, PENDING_BYTES, private=False)
                found.append(Pending.model_validate_json(text))
            except (PrivateFileError, ValidationError):
                path.unlink(missing_ok=True)
        return found

    def sent(self, event: OutcomeEvent) -> None:
        (self.outbox / f"{event.outcome_id}.json").unlink(missing_ok=True)
