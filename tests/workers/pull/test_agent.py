"""Pull agents as subprocesses: enrollment, convergence, drift, supersession, offline runs,
refusals and compliance, against a real controller, RabbitMQ, Redis and PostgreSQL; and an
agent that keeps checking in with its credentials after Redis is emptied."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pika

from broker_config import CHECKINS_EXCHANGE
from contracts import OutcomeEvent, OutcomeStatus, proofs
from producers.store import outcomes, refusals
from tests.isolation import wait_until
from tests.workers.pull.conftest import PullPlane
from workers.pull.control_plane import REPLY_TO
from workers.pull.state import AgentState

MOTD = "etc/motd"


def outcome(plane: PullPlane, change_id: str, target_id: str) -> OutcomeEvent:
    """The recorded current outcome of a target, once the aggregator has it."""
    return plane.outcome(change_id, target_id)


def test_an_enrolled_agent_converges_its_target_and_reports_pull(plane: PullPlane) -> None:
    revision, creds = plane.enrolled("p00", "one\n", change_id="c-enroll")
    assert (creds / "credentials.json").stat().st_mode & 0o777 == 0o600
    assert creds.stat().st_mode & 0o777 == 0o700
    assert json.loads((creds / "credentials.json").read_text())["target"] == "p00"

    done = plane.agent("p00")

    assert done.returncode == 0, done.stdout + done.stderr
    assert (plane.root("p00") / MOTD).read_text() == "one\n"
    event = outcome(plane, "c-enroll", "p00")
    assert (event.delivery, event.revision, event.status) == ("pull", revision, "changed")
    assert event.worker.startswith("agent@") and not event.drift
    assert event.sequence is not None, "the desk's sequence comes back with the outcome"
    assert AgentState(creds).applied().revision == revision
    plane.wait_standing("p00", state="aligned", revision=revision)


def test_drift_is_detected_and_remediated_or_only_reported(plane: PullPlane) -> None:
    plane.enrolled("p01", "drift-base\n", change_id="c-drift")
    assert plane.agent("p01").returncode == 0
    motd = plane.root("p01") / MOTD

    motd.write_text("edited by hand\n")  # behind the system's back
    done = plane.agent("p01", "--report-only")
    assert done.returncode == 0, done.stdout + done.stderr
    assert motd.read_text() == "edited by hand\n", "--report-only must change nothing"
    standing = plane.wait_standing("p01", state="drifted")
    assert standing["differed"] == ["/etc/motd"]
    event = outcome(plane, "c-drift", "p01")
    assert event.drift and event.dry_run and event.status == OutcomeStatus.DRIFTED
    assert event.changes[0].diff and "edited by hand" in event.changes[0].diff

    done = plane.agent("p01")
    assert done.returncode == 0 and "[drift]" in done.stdout
    assert motd.read_text() == "drift-base\n"
    standing = plane.wait_standing("p01", state="aligned", differed=["/etc/motd"])
    event = outcome(plane, "c-drift", "p01")
    assert event.drift and event.status == OutcomeStatus.CHANGED and not event.dry_run


def test_a_target_offline_for_several_revisions_jumps_to_the_latest(plane: PullPlane) -> None:
    first = plane.publish("offline-1\n")
    plane.assign(["p02"], first)
    plane.enroll("p02")
    assert plane.agent("p02").returncode == 0
    plane.publish("offline-2\n")
    plane.publish("offline-3\n")
    latest = plane.publish("offline-4\n")
    plane.assign(["p02"], latest, change_id="c-latest")

    done = plane.agent("p02")

    assert done.returncode == 0, done.stdout + done.stderr
    assert (plane.root("p02") / MOTD).read_text() == "offline-4\n"
    event = outcome(plane, "c-latest", "p02")
    assert event.revision == latest and event.status == OutcomeStatus.CHANGED
    assert not event.drift, "a new revision's changes are not drift"
    plane.wait_standing("p02", state="aligned", revision=latest)


def test_an_older_revision_than_the_applied_one_is_superseded(plane: PullPlane) -> None:
    older = plane.publish("super-old\n")
    newer, _ = plane.enrolled("p03", "super-new\n", change_id="c-new")
    assert plane.agent("p03").returncode == 0
    plane.assign(["p03"], older, change_id="c-old")  # e.g. Redis lost the newer assignment

    done = plane.agent("p03")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "superseded" in done.stdout
    assert (plane.root("p03") / MOTD).read_text() == "super-new\n"
    event = outcome(plane, "c-old", "p03")
    assert event.status == OutcomeStatus.SUPERSEDED and event.revision == older
    standing = plane.wait_standing("p03", change_id="c-new")
    assert standing["revision"] == newer and standing["state"] == "aligned"


def test_the_agent_converges_its_cache_while_the_control_plane_is_unreachable(
    plane: PullPlane,
) -> None:
    _, creds = plane.enrolled("p04", "cached\n", change_id="c-cache")
    assert plane.agent("p04").returncode == 0
    good = (creds / "credentials.json").read_text()
    data = json.loads(good)
    (creds / "credentials.json").write_text(
        json.dumps({**data, "broker_url": "amqp://guest:guest@127.0.0.1:1/%2F"})
    )
    (plane.root("p04") / MOTD).write_text("tampered\n")

    done = plane.agent("p04")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "offline" in done.stdout
    assert (plane.root("p04") / MOTD).read_text() == "cached\n"
    kept = AgentState(creds).pending()
    assert len(kept) == 1 and kept[0].event.drift

    (creds / "credentials.json").write_text(good)
    assert plane.agent("p04").returncode == 0
    assert AgentState(creds).pending() == []

    def arrived() -> bool:
        with plane.db.connection() as conn:
            recorded = {stored.event.outcome_id for stored in outcomes.history(conn, "p04")}
        return kept[0].event.outcome_id in recorded

    wait_until(arrived, 20, "the kept outcome to be sent and recorded")


def test_a_foreign_check_in_with_the_agents_own_user_is_refused_by_rabbitmq(
    plane: PullPlane,
) -> None:
    plane.assign(["p13"], plane.publish("secret-of-p13\n"))
    mine = plane.enroll("p14")  # its broker user may check in only as p14
    plane.enroll("p13")

    foreign = plane.agent("p13", credentials=mine)

    assert foreign.returncode == 1 and "ACCESS_REFUSED" in foreign.stdout + foreign.stderr
    assert "secret-of-p13" not in foreign.stdout
    assert not (plane.root("p13") / MOTD).exists()


def test_a_foreign_or_unenrolled_check_in_is_refused_and_recorded(plane: PullPlane) -> None:
    plane.assign(["p06"], plane.publish("secret-of-p06\n"))
    mine = plane.enroll("p05")
    plane.enroll("p06")  # p06 has its own agent; p05's credentials must not read its state
    # A broker user that may publish any key (guest): the desk's own token check refuses.
    data = json.loads((mine / "credentials.json").read_text())
    data["broker_url"] = plane.env["PROVISION_BROKER_URL"]
    (mine / "credentials.json").write_text(json.dumps(data))

    foreign = plane.agent("p06", credentials=mine)
    unenrolled_dir = plane.credentials("p07")
    unenrolled_dir.mkdir(parents=True)
    (unenrolled_dir / "credentials.json").write_text(json.dumps({**data, "target": "p07"}))
    (unenrolled_dir / "credentials.json").chmod(0o600)  # the agent refuses a shared key file
    unenrolled = plane.agent("p07")

    assert foreign.returncode == 1 and "refused" in foreign.stdout
    assert "secret-of-p06" not in foreign.stdout
    assert not (plane.root("p06") / MOTD).exists()
    assert unenrolled.returncode == 1
    with plane.db.connection() as conn:
        recorded = [r for r in refusals.recent_refusals(conn) if r.target in ("p06", "p07")]
    assert [(r.target, r.reason) for r in reversed(recorded)] == [
        ("p06", "the proof was not made with the key enrolled for target 'p06'"),
        ("p07", "target 'p07' is not enrolled"),
    ]
    assert all(r.at.tzinfo is not None for r in recorded)


def test_re_enrolling_rotates_the_key_and_an_old_token_file_says_re_enroll(
    plane: PullPlane,
) -> None:
    plane.assign(["p08"], plane.publish("rotate\n"))
    old = json.loads((plane.enroll("p08") / "credentials.json").read_text())
    new = json.loads((plane.enroll("p08") / "credentials.json").read_text())
    assert old["private_key"] != new["private_key"] and old["public_key"] != new["public_key"]
    done = plane.provision("enroll", "nope", "--out", str(plane.credentials("nope")))
    assert done.returncode == 2 and "'nope'" in done.stderr

    bare = {k: v for k, v in new.items() if not k.endswith("_key")} | {"token": "t" * 43}
    (plane.credentials("p08") / "credentials.json").write_text(json.dumps(bare))
    refused = plane.agent("p08")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "bare bearer token" in refused.stderr and "provision enroll" in refused.stderr


def test_a_check_in_read_off_the_broker_holds_no_secret_and_cannot_be_replayed(
    plane: PullPlane,
) -> None:
    """The attack of the security review: a queue bound with `#` to provision.checkins."""
    plane.assign(["p15"], plane.publish("captured\n"), change_id="c-captured")
    creds = plane.enroll("p15")
    private_key = json.loads((creds / "credentials.json").read_text())["private_key"]
    connection = plane.iso.amqp()
    try:
        channel = connection.channel()
        tap = channel.queue_declare("", exclusive=True).method.queue
        channel.queue_bind(tap, CHECKINS_EXCHANGE, "#")
        assert plane.agent("p15").returncode == 0
        captured = wait_until(lambda: channel.basic_get(tap, auto_ack=True)[2], 20, "a check-in")

        replies: list[bytes] = []
        channel.basic_consume(REPLY_TO, lambda *delivery: replies.append(delivery[3]), True)
        replay = pika.BasicProperties(reply_to=REPLY_TO, correlation_id="replay")
        channel.basic_publish(CHECKINS_EXCHANGE, "p15", captured, replay)
        wait_until(lambda: connection.process_data_events(time_limit=0.2) or replies, 30, "reply")
    finally:
        connection.close()

    seed = proofs.decode(private_key)
    for secret in (private_key.encode(), seed, seed.hex().encode(), base64.b64encode(seed)):
        assert secret not in captured
    assert json.loads(replies[0]) == {"admitted": False, "refused": "refused"}
    with plane.db.connection() as conn:
        latest = refusals.recent_refusals(conn, limit=1)[0]
    assert latest.target == "p15" and "already used (a replayed check-in)" in latest.reason


def test_compliance_lists_every_state_including_unknown(plane: PullPlane, tmp_path: Path) -> None:
    revision = plane.publish("compliance\n")
    plane.assign(["p09", "p10"], revision, change_id="c-comp")
    plane.enroll("p09")
    plane.enroll("p10")
    assert plane.agent("p09").returncode == 0
    failed = plane.agent("p10", "--root", str(tmp_path / "missing"))
    assert failed.returncode == 1
    plane.wait_standing("p09", state="aligned")
    plane.wait_standing("p10", state="failed")
    stale = datetime.now(UTC) - timedelta(hours=2)
    with plane.db.connection() as conn:  # p11 last checked in 2 h ago, every minute
        conn.execute(
            """
            INSERT INTO compliance_observations
                (target, kind, state, revision, delivery, interval_s, observed_at, received_at)
            VALUES ('p11', 'outcome', 'aligned', %s, 'pull', 60, %s, %s)
            """,
            (revision, stale, stale),
        )

    report = plane.compliance("group=single", "target=p09", "target=p10", "target=p11")

    rows = {row["target"]: row for row in report["targets"]}
    assert {t: r["state"] for t, r in rows.items()} == {
        "p09": "aligned",
        "p10": "failed",
        "p11": "unknown",
    }
    assert rows["p09"]["revision"] == revision and rows["p09"]["last_seen"]
    assert report["counts"] == {
        "aligned": 1,
        "drifted": 0,
        "failed": 1,
        "excepted": 0,
        "pending": 0,
        "unknown": 1,
    }
    never = plane.compliance("target=h499")["targets"]
    assert never == [{"target": "h499", "state": "unknown", "revision": None, "last_seen": None}]


def test_an_agent_checks_in_with_its_credentials_after_redis_is_emptied(
    plane: PullPlane,
) -> None:
    """Enrollment, assignment and revisions live in PostgreSQL: FLUSHDB forgets none."""
    _, creds = plane.enrolled("p12", "before-flush\n", change_id="c-before-flush")
    assert plane.agent("p12").returncode == 0
    before = outcome(plane, "c-before-flush", "p12")
    assert before.status == OutcomeStatus.CHANGED and before.sequence is not None

    plane.redis.flushdb()
    later = plane.publish("after-flush\n")
    plane.assign(["p12"], later, change_id="c-after-flush")
    done = plane.agent("p12", credentials=creds)

    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(f"reported: revision {later}: changed"), done.stdout
    assert (plane.root("p12") / MOTD).read_text() == "after-flush\n"
    after = outcome(plane, "c-after-flush", "p12")
    assert (after.revision, after.status) == (later, OutcomeStatus.CHANGED)
    assert after.sequence is not None and after.sequence > before.sequence
    plane.wait_standing("p12", state="aligned", revision=later)
