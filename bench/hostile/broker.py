"""Sending hostile messages and judging each one: a dead letter, a reply, or what it caused.

One input at a time, so every dead letter, reply, outcome or crash belongs to the input in
flight. A message wrongly accepted is made harmless afterwards (its rollout aborted), so
it cannot skew what comes after it.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

import pika
import pika.exceptions
import psycopg
import redis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.hostile.corpus_messages import DIRECT, TRAP
from bench.hostile.model import AGENT, ELSEWHERE, OUTCOME, WORKER, EntryPoint, Input, Verdict
from bench.hostile.services import HOSTILE, Services
from broker_config import (
    CHANGES_EXCHANGE,
    CHECKINS_EXCHANGE,
    DEAD_QUEUE,
    EVENTS_EXCHANGE,
    RESULTS_EXCHANGE,
)
from broker_config.connections import speaks_as
from contracts import Target
from contracts.dead import reason_of
from contracts.events import KEY_ID_HEADER, SIGNATURE_HEADER, RolloutState
from producers.messaging.emitter import signed_headers
from producers.rollouts.store import RolloutBook
from producers.store.database import Database
from producers.store.refusals import OUTCOME_REFUSED

EXCHANGE = {
    EntryPoint.EVENTS: EVENTS_EXCHANGE,
    EntryPoint.REGION: CHANGES_EXCHANGE,
    EntryPoint.RESULTS: RESULTS_EXCHANGE,
    EntryPoint.CHECKINS: CHECKINS_EXCHANGE,
}
POLL_S = 0.02
#: How long an input judged by its outcome may take: the controller plans it, a worker
#: refuses it, the aggregator records the refusal.
OUTCOME_WAIT_S = 30.0


class BrokerJudge:
    """Publishes as guest or as the agent role, and watches for each input's verdict.

    What an input caused (a rollout, an outcome) is read from the system of record, the
    sandbox's own PostgreSQL database, which `close()` lets go of with the connections.
    """

    def __init__(
        self, guest_url: str, urls: dict[str, str], client: redis.Redis, services: Services
    ):
        #: guest, `agent` (the agent role's permissions, no topic permissions: every
        #: outcome and check-in class) and the role users of Input.sender (AGENT, WORKER).
        self.urls = {"guest": guest_url, **urls}
        self.redis = client
        self.services = services
        self.db = Database.open(services.box.database_url, max_size=2, name="hostile-judge")
        self.dead: dict[str, str] = {}
        self.replies: dict[str, bytes] = {}
        self.trapped: set[str] = set()
        self.unmatched_dead = 0
        #: Signs each hostile change event (a trusted sender gone bad meets every check
        #: behind the signature), unless the input carries signature headers of its own.
        self.signing_key: Ed25519PrivateKey | None = None
        self._connect()

    def _connect(self) -> None:
        self.guest = pika.BlockingConnection(pika.URLParameters(self.urls["guest"]))
        self.gch: Any = self.guest.channel()
        self.gch.queue_declare(TRAP, auto_delete=False)
        self.agent = pika.BlockingConnection(pika.URLParameters(self.urls["agent"]))
        self.ach: Any = self.agent.channel()
        self.ach.basic_consume(DIRECT, self._on_reply, auto_ack=True)
        #: Role senders: a confirmed channel each, so RabbitMQ's own refusal shows at once.
        self.roles: dict[str, tuple[Any, Any]] = {}
        for name in (AGENT, WORKER):
            if name in self.urls:
                connection = pika.BlockingConnection(pika.URLParameters(self.urls[name]))
                channel = connection.channel()
                channel.confirm_delivery()
                self.roles[name] = (connection, channel)

    def close(self) -> None:
        """The broker connections and the database pool: the end of the run."""
        self._disconnect()
        self.db.close()

    def _disconnect(self) -> None:
        for connection in (self.guest, self.agent, *(c for c, _ in self.roles.values())):
            with contextlib.suppress(pika.exceptions.AMQPError, OSError):
                if connection.is_open:
                    connection.close()

    def _on_reply(self, channel: Any, method: Any, props: Any, body: bytes) -> None:
        self.replies[str(props.correlation_id)] = body

    def send(self, item: Input, silent_s: float) -> tuple[Verdict, str]:
        """Publish `item`, then wait for a refusal, an acceptance or a crash."""
        if item.sender != WORKER:
            return self._send(item, silent_s)
        self._elsewhere(present=True)
        try:
            return self._send(item, silent_s)
        finally:
            self._elsewhere(present=False)

    def _send(self, item: Input, silent_s: float) -> tuple[Verdict, str]:
        headers = {**item.headers, HOSTILE: item.ident}
        signs = item.entry == EntryPoint.EVENTS and self.signing_key is not None
        if signs and KEY_ID_HEADER not in headers and SIGNATURE_HEADER not in headers:
            assert self.signing_key is not None
            headers.update(signed_headers(self.signing_key, item.body))
        if item.entry == EntryPoint.REGION and "id" in headers:
            headers["id"] = headers["root_id"] = item.ident
        extra = dict(item.props)
        agent = item.entry in (EntryPoint.RESULTS, EntryPoint.CHECKINS)
        channel = self.ach if agent else self.gch
        if item.sender:
            connection, channel = self.roles[item.sender]
            extra["user_id"] = speaks_as(connection)  # as every process of ours sends it
        props = pika.BasicProperties(
            headers=headers, correlation_id=item.ident, delivery_mode=2, **extra
        )
        try:
            channel.basic_publish(EXCHANGE[item.entry], item.routing_key, item.body, props)
            if agent:
                self.agent.process_data_events(time_limit=0)
        except pika.exceptions.UnsupportedAMQPFieldException:
            raise  # pika could not encode it: a bug of the corpus, not a refusal
        except (pika.exceptions.AMQPError, ValueError, OverflowError) as exc:
            self._disconnect()
            self._connect()
            return Verdict.REFUSED, f"the broker refused the publish: {type(exc).__name__} {exc}"
        if item.check == OUTCOME:  # judged by a worker's outcome: controller, worker, ledger
            silent_s = max(silent_s, OUTCOME_WAIT_S)
        deadline = time.monotonic() + silent_s
        while True:
            try:
                verdict = self._poll(item)
            except pika.exceptions.AMQPError as exc:
                self._lost(exc)
                verdict = None
            if verdict is not None:
                return verdict
            if self.services.dead():
                return Verdict.CRASHED, f"{', '.join(self.services.dead())} exited"
            if time.monotonic() > deadline:
                return Verdict.ACCEPTED, f"taken silently: no refusal within {silent_s:g}s"
            time.sleep(POLL_S)

    def _poll(self, item: Input) -> tuple[Verdict, str] | None:
        self._read_dead()
        if item.ident in self.dead:
            return Verdict.REFUSED, "dead letter: " + self.dead.pop(item.ident)[:160]
        if item.entry == EntryPoint.CHECKINS:
            return self._checkin(item)
        if item.entry == EntryPoint.EVENTS and item.watch and item.check == OUTCOME:
            return self._outcome(str(item.watch))
        if item.entry == EntryPoint.EVENTS and item.watch:
            state = self._one("SELECT state FROM rollouts WHERE rollout_id = %s", str(item.watch))
            if state and state != RolloutState.REJECTED.value:
                book = RolloutBook(self.db, self.redis)
                book.set_state(str(item.watch), RolloutState.ABORTED)
                return Verdict.ACCEPTED, f"rollout created ({state}); aborted by the bench"
        if item.entry == EntryPoint.REGION and item.watch:
            status = self._one(
                "SELECT status FROM outcomes WHERE change_id = %s AND status <> 'rejected' LIMIT 1",
                str(item.watch),
            )
            if status:
                return Verdict.ACCEPTED, f"converged: outcome {status}"
        if item.entry == EntryPoint.RESULTS and item.watch:
            change_id, target = item.watch
            readable = isinstance(change_id, str) and isinstance(target, str)  # wrong types
            refused = readable and change_id and self._refused_outcome(str(change_id))
            if refused:
                return Verdict.REFUSED, f"sender check: {refused[:160]}"
            if (
                readable
                and change_id
                and target
                and self._one(
                    "SELECT event_id FROM outcomes WHERE change_id = %s AND target = %s LIMIT 1",
                    change_id,
                    target,
                )
            ):
                return Verdict.ACCEPTED, "recorded in the ledger"
        return None

    def _outcome(self, change_id: str) -> tuple[Verdict, str] | None:
        """An event the controller may plan but a worker must refuse (a root outside its
        allow rule): refused when its outcome is `rejected`, accepted when it is any other."""
        found = self._one(
            "SELECT status || ': ' || coalesce(event_json::jsonb #>> '{error,message}', '')"
            " FROM outcomes WHERE change_id = %s LIMIT 1",
            change_id,
        )
        if found is None:
            return None
        status, _, why = found.partition(": ")
        if status == "rejected":
            return Verdict.REFUSED, f"rejected by the worker: {why[:160]}"
        return Verdict.ACCEPTED, f"converged: outcome {status}"

    def _refused_outcome(self, change_id: str) -> str | None:
        """The reason the aggregator recorded for refusing an outcome of `change_id`."""
        escaped = change_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return self._one(
            "SELECT reason FROM checkin_refusals WHERE reason LIKE %s ORDER BY id DESC LIMIT 1",
            f"{OUTCOME_REFUSED} (change {escaped}, %",
        )

    def _elsewhere(self, *, present: bool) -> None:
        """ELSEWHERE in the inventory as a target of region `us` while a WORKER input is
        judged (so the first region's worker forges for a target it does not serve), and
        out of it otherwise (so no event selects it)."""
        row = Target(id=ELSEWHERE, region="us", environment="bench", address="local:///x")
        with self.db.connection() as conn:
            if not present:
                conn.execute("DELETE FROM targets WHERE id = %s", (ELSEWHERE,))
                return
            conn.execute(
                "INSERT INTO targets (id, region, environment, delivery, target_json)"
                " VALUES (%s, 'us', 'bench', 'push', %s) ON CONFLICT (id) DO UPDATE"
                " SET region = 'us', target_json = EXCLUDED.target_json",
                (ELSEWHERE, row.model_dump_json()),
            )

    def _one(self, sql: str, *params: str) -> str | None:
        """The first column of the first row, as text. A hostile id PostgreSQL cannot even
        take as a parameter (a NUL, a lone surrogate) names nothing stored: None."""
        if any("\x00" in param for param in params):
            return None
        try:
            with self.db.connection() as conn:
                row = conn.execute(sql.encode(), params).fetchone()
        except (UnicodeError, psycopg.DataError):
            return None
        return None if row is None else str(row[0])

    def _lost(self, exc: Exception) -> None:
        """Our own connection closed while watching: reconnect. A dead letter too large for
        any consumer to read (its headers grew past the frame size) blocks the queue: it
        is purged, and counted as a dead letter no input could be matched to."""
        self._disconnect()
        if "frame_too_large" in str(exc):
            connection = pika.BlockingConnection(pika.URLParameters(self.urls["guest"]))
            self.unmatched_dead += connection.channel().queue_purge(DEAD_QUEUE).method.message_count
            connection.close()
        self._connect()

    def _checkin(self, item: Input) -> tuple[Verdict, str] | None:
        self.agent.process_data_events(time_limit=0)
        method, props, _ = self.gch.basic_get(TRAP, auto_ack=True)
        if method is not None:
            self.trapped.add(str(props.correlation_id))
        if item.ident in self.trapped:
            return Verdict.ACCEPTED, f"the controller published a reply into {TRAP}"
        body = self.replies.pop(item.ident, None)
        if body is None:
            return None
        try:
            reply = json.loads(body)
        except ValueError:
            return Verdict.ACCEPTED, "an unreadable reply"
        if reply.get("admitted"):
            return Verdict.ACCEPTED, "admitted"
        why = reply.get("refused") or f"come back in {reply.get('retry_after_s')}s"
        return Verdict.REFUSED, f"reply: {str(why)[:160]}"

    def _read_dead(self) -> None:
        while True:
            method, props, _ = self.gch.basic_get(DEAD_QUEUE, auto_ack=True)
            if method is None:
                return
            headers = props.headers or {}
            ident = headers.get(HOSTILE) or headers.get("id") or props.correlation_id
            reason = reason_of(headers)[0] or "(no reason given)"
            if ident is None:
                self.unmatched_dead += 1
            else:
                self.dead[str(ident)] = reason
