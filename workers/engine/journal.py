"""The target-side journal: what a target has finished, kept on the target itself.

Redis keeps nothing on disk here, so a Redis restart forgets the idempotency records and
the fences. The journal does not forget: after each final outcome the worker writes it
(atomically: temporary file, rename) under `/var/lib/provision` in the target's root, with
the highest sequence and revision applied. Reads happen under the target's lock.

Journal writes are not fsynced: they survive any process or service crash (the page cache
outlives the worker), and what a power cut could lose is only bookkeeping: the next run
finds the managed state already converged (those writes are fsynced) and applies nothing.
Skipping the fsyncs halves what a change costs the worker.
"""

from __future__ import annotations

import hashlib
import re

from contracts import OutcomeEvent, Target
from workers.engine.hosts import Host, connect
from workers.engine.target_files import JOURNAL_DIR

#: Where, under the target's root, the journal lives (like /var/lib/puppet for Puppet).
DONE_DIR = f"{JOURNAL_DIR}/done"
SEQUENCE_FILE = f"{JOURNAL_DIR}/sequence"
#: The highest source-of-truth revision applied, by push or by pull: one fact per target.
REVISION_FILE = f"{JOURNAL_DIR}/revision"

_SAFE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}$")


def _file_name(change_id: str) -> str:
    if _SAFE.match(change_id):
        return f"{change_id}.json"
    return hashlib.sha256(change_id.encode()).hexdigest() + ".json"


class Journal:
    """One target's journal. Open it only while holding the target's lock.

    Args:
        spec: The target, whose address says where its root is.
        host: The target already connected, when the caller has it (it stays the caller's
            to close); otherwise the journal connects on first use.
    """

    def __init__(self, spec: Target, host: Host | None = None) -> None:
        self._spec = spec
        self._target: Host | None = host
        #: The sequence and revision as read or written by this journal: it lives under
        #: the target's lock, so nobody else changes them meanwhile, and a record need not
        #: read again what the request read before converging.
        self._known: dict[str, int | None] = {}

    def _reached(self) -> Host:
        """The target, connected once per journal (reads and writes share it)."""
        if self._target is None:
            self._target = connect(self._spec)
        return self._target

    def outcome(self, change_id: str) -> OutcomeEvent | None:
        """The final outcome this target recorded for `change_id`, if any."""
        text = self._read(f"{DONE_DIR}/{_file_name(change_id)}")
        return OutcomeEvent.model_validate_json(text) if text else None

    def sequence(self) -> int | None:
        """The highest sequence this target has applied, if any."""
        return self._number(SEQUENCE_FILE)

    def revision(self) -> int | None:
        """The highest source-of-truth revision this target has applied, if any."""
        return self._number(REVISION_FILE)

    def _number(self, path: str) -> int | None:
        if path not in self._known:
            text = self._read(path)
            self._known[path] = int(text) if text and text.strip().isdigit() else None
        return self._known[path]

    def record(self, event: OutcomeEvent, sequence: int | None) -> None:
        """Write the final outcome; raise the sequence and the revision if they are higher."""
        target = self._reached()
        self._put(target, f"{DONE_DIR}/{_file_name(event.change_id)}", event.model_dump_json())
        if sequence is not None and sequence > (self.sequence() or -1):
            self._put(target, SEQUENCE_FILE, f"{sequence}\n")
            self._known[SEQUENCE_FILE] = sequence
        if event.status.ok and event.revision is not None:
            self._raise_revision(target, event.revision)

    def applied_revision(self, revision: int) -> None:
        """Note that `revision` was applied (the pull agent's side of the same fact)."""
        self._raise_revision(self._reached(), revision)

    def _raise_revision(self, target: Host, revision: int) -> None:
        if revision > (self.revision() or 0):
            self._put(target, REVISION_FILE, f"{revision}\n")
            self._known[REVISION_FILE] = revision

    def _read(self, path: str) -> str | None:
        try:
            _, content = self._reached().read(path)
        except FileNotFoundError:
            return None
        return None if content is None else content.decode("utf-8", "replace")

    @staticmethod
    def _put(target: Host, path: str, text: str) -> None:
        try:
            target.put(path, text.encode(), mode=0o600, durable=False, parents=False)
        except FileNotFoundError:
            target.mkdir(path.rpartition("/")[0] or "/", 0o700)
            target.put(path, text.encode(), mode=0o600, durable=False, parents=False)
