"""Check-in proofs at the desk, in-process on the pull group's real PostgreSQL and Redis.

The attacker here read check-ins off `provision.checkins` (a queue bound with `#`): they
hold exactly the bytes an agent published. Replaying them, re-sending them late, changing
their body, or signing for another target with their own key is refused; and those bytes
hold nothing secret to begin with.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path

import pytest

from contracts import ContractError, limits, proofs
from contracts.changes import utcnow
from contracts.checkins import Credentials
from contracts.signatures import new_private_key, public_pem
from producers.pull.desk import OLD_AGENT, REFUSED, CheckinDesk
from producers.pull.enrollment import Enrollment, write_credentials
from producers.store import refusals
from tests.isolation import Isolated
from tests.producers.truth.conftest import RolledBack
from tests.workers.pull.conftest import pull_targets
from workers.pull.agent import Agent
from workers.pull.signing import signed_checkin
from workers.pull.state import load_credentials

URL = "amqp://agent:secret@127.0.0.1:5672/%2F"
TARGETS = pull_targets("proof", 2)


@pytest.fixture
def desk(pull: Isolated, db: RolledBack) -> CheckinDesk:
    return CheckinDesk(db, pull.redis, rate_per_s=1000, burst=1000)


def wire(credentials: Credentials, target: str = "proof-0", **body: object) -> bytes:
    """Exactly what the agent's ControlPlane publishes for this check-in."""
    return signed_checkin(credentials, target, **body).model_dump_json().encode()


def last_reason(db: RolledBack) -> str:
    return refusals.recent_refusals(db.conn, limit=1)[0].reason


def test_a_valid_proof_is_admitted_and_its_replay_refused_even_after_redis_is_emptied(
    pull: Isolated, db: RolledBack, desk: CheckinDesk
) -> None:
    body = wire(Enrollment(db).enroll("proof-0", URL), applied_revision=None)

    admitted = desk.answer(body)
    replayed = desk.answer(body)
    pull.redis.flushdb()  # the nonces are not in Redis: emptying it re-opens no replay
    replayed_after_flush = desk.answer(body)

    assert admitted.admitted and admitted.refused is None
    for reply in (replayed, replayed_after_flush):
        assert (reply.admitted, reply.refused, reply.state) == (False, REFUSED, None)
    nonce = json.loads(body)["nonce"]
    assert last_reason(db) == f"nonce {nonce} was already used (a replayed check-in)"


@pytest.mark.parametrize("direction", [-1, 1], ids=["old", "future"])
def test_a_sent_at_outside_the_window_is_refused(
    db: RolledBack, desk: CheckinDesk, direction: int
) -> None:
    credentials = Enrollment(db).enroll("proof-0", URL)
    off = timedelta(seconds=direction * (limits.CHECKIN_WINDOW_S + 5))
    late = signed_checkin(credentials, "proof-0", now=utcnow() + off)
    inside = signed_checkin(credentials, "proof-0", now=utcnow() + off / 2)

    assert desk.answer(late.model_dump_json().encode()).refused == REFUSED
    reason = last_reason(db)
    assert "PROVISION_LIMIT_CHECKIN_WINDOW_S=300" in reason
    assert ("behind" if direction < 0 else "ahead of") in reason
    assert desk.answer(inside.model_dump_json().encode()).admitted, "a skewed clock within it"


def test_a_proof_made_with_another_targets_key_is_refused(
    db: RolledBack, desk: CheckinDesk
) -> None:
    enrollment = Enrollment(db)
    mine = enrollment.enroll("proof-0", URL)
    enrollment.enroll("proof-1", URL)  # its own key, which the attacker does not have

    reply = desk.answer(wire(mine, target="proof-1"))

    assert reply.refused == REFUSED and reply.state is None
    assert last_reason(db) == "the proof was not made with the key enrolled for target 'proof-1'"


@pytest.mark.parametrize(
    "change",
    [
        {"applied_revision": 99},
        {"report_only": True},
        {"interval_s": 1.0},
        {"target": "proof-1"},
        {"sent_at": "2099-01-01T00:00:00Z"},
    ],
    ids=lambda change: next(iter(change)),
)
def test_a_tampered_check_in_is_refused(
    db: RolledBack, desk: CheckinDesk, change: dict[str, object]
) -> None:
    enrollment = Enrollment(db)
    credentials = enrollment.enroll("proof-0", URL)
    enrollment.enroll("proof-1", URL)
    signed = json.loads(wire(credentials, applied_revision=1, interval_s=60.0))

    reply = desk.answer(json.dumps({**signed, **change}).encode())

    assert reply.refused == REFUSED
    assert desk.answer(json.dumps(signed).encode()).admitted, "the untouched one still passes"


def test_an_agent_enrolled_with_a_bearer_token_is_told_to_enroll_again(
    db: RolledBack, desk: CheckinDesk
) -> None:
    credentials = Enrollment(db).enroll("proof-0", URL)
    db.conn.execute("UPDATE enrollments SET public_key = NULL WHERE target = 'proof-0'")

    assert desk.answer(wire(credentials)).refused == REFUSED
    assert last_reason(db) == "target 'proof-0' was enrolled with a bearer token; enroll it again"


def test_nothing_secret_is_in_what_the_agent_publishes(db: RolledBack) -> None:
    credentials = Enrollment(db).enroll("proof-0", URL)
    body = wire(credentials, applied_revision=3, report_only=True, interval_s=60.0)

    seed = proofs.decode(credentials.private_key)
    for spelling in (
        seed,
        seed.hex().encode(),
        base64.b64encode(seed),
        credentials.private_key.encode(),
        b"secret",  # the broker password in the credentials' URL
    ):
        assert spelling not in body
    assert set(json.loads(body)) == {
        "target",
        "nonce",
        "sent_at",
        "proof",
        "applied_revision",
        "report_only",
        "interval_s",
    }


def test_the_credentials_file_holds_the_key_pair_and_an_old_token_file_says_re_enroll(
    db: RolledBack, tmp_path: Path
) -> None:
    controller = public_pem(new_private_key())
    credentials = Enrollment(db).enroll("proof-0", URL, controller)
    path = write_credentials(tmp_path / "agent", credentials)
    assert path.stat().st_mode & 0o777 == 0o600
    written = json.loads(path.read_text())
    assert set(written) == {
        "target",
        "private_key",
        "public_key",
        "broker_url",
        "enrolled_at",
        "address",
        "controller_public_key",
    }
    assert written["controller_public_key"] == controller
    assert load_credentials(tmp_path / "agent") == credentials

    unsigned = written | {"controller_public_key": None}  # enrolled before signed states
    path.write_text(json.dumps(unsigned))
    with pytest.raises(ContractError, match="controller_public_key") as before:
        Agent(tmp_path / "agent")
    assert "re-enroll" in str(before.value)

    old = {k: v for k, v in written.items() if not k.endswith("_key")} | {"token": "t" * 43}
    path.write_text(json.dumps(old))
    with pytest.raises(ContractError, match="bare bearer token") as refused:
        load_credentials(tmp_path / "agent")
    assert "provision enroll TARGET --out DIR" in str(refused.value)
    assert "t" * 43 not in str(refused.value), "the old token is not echoed"

    mixed = written | {"public_key": proofs.new_key_pair()[1]}
    path.write_text(json.dumps(mixed))
    with pytest.raises(ContractError, match="not the public half of private_key; re-enroll"):
        load_credentials(tmp_path / "agent")


def test_a_check_in_from_an_agent_older_than_proofs_is_refused_saying_so(
    db: RolledBack, desk: CheckinDesk
) -> None:
    Enrollment(db).enroll("proof-0", URL)
    token = "t0ken" * 9

    reply = desk.answer(json.dumps({"target": "proof-0", "token": token}).encode())

    assert reply.refused == REFUSED
    reason = last_reason(db)
    assert reason.startswith(OLD_AGENT) and token not in reason
