"""The canary: a real change published every few seconds through the events exchange.

It takes the road every change takes (event -> controller -> region queue -> worker ->
outcome -> aggregator), so a process that is down, wedged or starved shows up as a canary
that does not converge. Applied means a converged outcome in the ledger and the file on
the canary target's disk.
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pika
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts import FileSpec, Target
from contracts.changes import utcnow
from contracts.events import ChangeEvent
from producers.messaging.emitter import publish_event
from producers.records.ledger import Ledger
from producers.store.database import Database

GOOD = {"changed", "converged"}
PATH = "/etc/canary.conf"


class Canary(threading.Thread):
    """Publishes a canary change every `every_s` seconds until stopped."""

    def __init__(
        self, url: str, region: str, root: Path, every_s: float, key: Ed25519PrivateKey
    ) -> None:
        super().__init__(name="canary", daemon=True)
        self.url = url
        self.key = key
        self.every_s = every_s
        self.home = root / "canary"
        self.home.mkdir(parents=True, exist_ok=True)
        self.target = Target(
            id="canary", region=region, environment="bench", address=f"local://{self.home}"
        )
        self.sent: dict[str, str] = {}  # change id -> content
        self.errors: list[str] = []
        self._halt = threading.Event()

    def run(self) -> None:
        connection = None
        while not self._halt.is_set():
            try:
                if connection is None or not connection.is_open:
                    connection = pika.BlockingConnection(pika.URLParameters(self.url))
                self.publish(connection)
            except Exception as exc:  # a broker hiccup: count nothing, try again
                self.errors.append(f"{type(exc).__name__}: {exc}")
                connection = None
            self._halt.wait(self.every_s)
        if connection is not None and connection.is_open:
            connection.close()

    def publish(self, connection: object) -> None:
        event_id = uuid.uuid4()
        content = f"canary {event_id}\n"
        event = ChangeEvent(
            event_id=event_id,
            issued_by="hostile-bench-canary",
            issued_at=utcnow(),
            targets=(self.target,),
            resources=(FileSpec(path=PATH, content=content),),
        )
        publish_event(connection, event, routing_key="canary", key=self.key)
        self.sent[str(event_id)] = content

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=30)

    def applied(self, db: Database) -> int:
        """Canaries with a converged outcome; the newest must also be on disk."""
        ledger = Ledger(db)
        done = [cid for cid in self.sent if any(ledger.counts(cid)[s] for s in GOOD)]
        newest = list(self.sent)[-1:] if self.sent else []
        if newest and newest[0] in done:
            on_disk = (self.home / PATH.lstrip("/")).read_text(errors="replace")
            if on_disk != self.sent[newest[0]]:
                done.remove(newest[0])
        return len(done)
