"""The operator role: read-only without credentials; with them, replay only by a POST from
the dashboard's own page, signed in this start, carrying the page's token."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from broker_config import DEAD_QUEUE, EVENTS_EXCHANGE, EVENTS_QUEUE, declare
from broker_config.dead_letters import dead_letter, pika_send
from producers.dashboard.operator import (
    COOKIE,
    FAILED_SIGN_INS,
    CredentialsError,
    OperatorCredentials,
    read_credentials,
)
from tests.isolation import Isolated, wait_until
from tests.producers.dashboard.conftest import ORIGIN, client

SAME = {"origin": ORIGIN}
FOREIGN = {"origin": "http://evil.example"}


def credentials_file(tmp_path: Path, url: str, mode: int = 0o600) -> Path:
    path = tmp_path / "operator.url"
    path.write_text(url + "\n")
    path.chmod(mode)
    return path


def test_credentials_must_be_a_private_broker_url(tmp_path: Path) -> None:
    url = "amqp://ops:s3cret@127.0.0.1:5672/%2F"
    found = read_credentials(credentials_file(tmp_path, url))
    assert (found.user, found.password) == ("ops", "s3cret")
    assert "s3cret" not in repr(found)
    with pytest.raises(CredentialsError, match="make it 0600"):
        read_credentials(credentials_file(tmp_path, url, 0o644))
    with pytest.raises(CredentialsError, match="no user and password"):
        read_credentials(credentials_file(tmp_path, "amqp://127.0.0.1/"))
    with pytest.raises(CredentialsError, match="not an amqp"):
        read_credentials(credentials_file(tmp_path, "http://ops:x@host/"))
    with pytest.raises(CredentialsError, match="operator-credentials"):
        read_credentials(tmp_path / "missing")


def test_credentials_that_are_no_file_or_too_large_are_refused_in_its_words(
    tmp_path: Path,
) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)  # opened without waiting on a writer
    with pytest.raises(CredentialsError, match=f"^--operator-credentials {fifo}: not a regular"):
        read_credentials(fifo)
    huge = credentials_file(tmp_path, "amqp://ops:s3cret@127.0.0.1/")
    os.truncate(huge, 1 << 40)  # sparse: refused by its size, never read
    with pytest.raises(CredentialsError, match="over 4096 bytes: not a broker URL") as refused:
        read_credentials(huge)
    assert "s3cret" not in str(refused.value)
    with pytest.raises(CredentialsError, match=r"missing: No such file or directory$"):
        read_credentials(tmp_path / "missing")


@pytest.fixture
def dead(dash: Isolated) -> Iterator[str]:
    """One dead change event in provision.dead (first sent to provision.events); its id."""
    connection = dash.amqp()
    declare(connection, ["eu"])
    for queue in (DEAD_QUEUE, EVENTS_QUEUE):
        connection.channel().queue_purge(queue)
    letter_id = f"dead-{uuid.uuid4()}"
    dead_letter(
        pika_send(connection),
        body=b'{"event_id": "x"}',
        headers={},
        reason="change event: resources: <script>bad</script>",
        source=EVENTS_QUEUE,
        exchange=EVENTS_EXCHANGE,
        routing_key="apply",
        correlation_id=letter_id,
    )
    connection.close()
    yield letter_id


def depth(dash: Isolated, queue: str) -> int:
    connection = dash.amqp()
    try:
        return int(connection.channel().queue_declare(queue, passive=True).method.message_count)
    finally:
        connection.close()


def operator(dash: Isolated) -> OperatorCredentials:
    return OperatorCredentials(dash.broker_url, "guest", "guest")


def test_read_only_shows_letters_and_refuses_every_replay(dash: Isolated, dead: str) -> None:
    with client(dash) as browser:
        page = browser.get("/dead-letters")
        assert page.status_code == 200 and dead in page.text
        assert "&lt;script&gt;bad" in page.text and "/dead-letters/replay" not in page.text
        refused = browser.post("/dead-letters/replay", data={"id": dead}, headers=SAME)
        assert refused.status_code == 403 and "read-only" in refused.text
        assert browser.get("/operator").status_code == 404
    assert depth(dash, DEAD_QUEUE) == 1, "browsing put every letter back"


def sign_in(browser: Any, password: str = "guest", headers: dict[str, str] = SAME) -> Any:
    return browser.post("/operator", data={"password": password}, headers=headers)


def test_replay_needs_the_signed_in_operator_s_form_from_this_dashboard(
    dash: Isolated, dead: str
) -> None:
    with client(dash, operator(dash)) as browser:
        anyone = browser.get("/dead-letters")
        assert "/dead-letters/replay" not in anyone.text, "no form for a browser not signed in"
        assert (
            browser.post("/dead-letters/replay", data={"id": dead}, headers=SAME).status_code == 403
        )
        assert sign_in(browser, "wrong").status_code == 403
        assert sign_in(browser, headers=FOREIGN).status_code == 403, "another site's form"
        assert COOKIE not in browser.cookies
        signed = sign_in(browser)
        assert signed.status_code == 303 and COOKIE in browser.cookies
        page = browser.get("/dead-letters")
        token = re.search(r'name="token" value="([0-9a-f]{64})"', page.text)
        assert token is not None and "/dead-letters/replay" in page.text
        form = {"id": dead, "token": token.group(1)}
        for headers, data in (
            (FOREIGN, form),  # a cross-site form, even with the cookie and the token
            ({}, form),  # no Origin at all
            ({**SAME, "sec-fetch-site": "cross-site"}, form),
            (SAME, {"id": dead, "token": "0" * 64}),  # a guessed token
            (SAME, {"id": dead}),
        ):
            refused = browser.post("/dead-letters/replay", data=data, headers=headers)
            assert refused.status_code == 403, (headers, data)
        assert depth(dash, DEAD_QUEUE) == 1 and depth(dash, EVENTS_QUEUE) == 0
        assert browser.get("/dead-letters/replay").status_code == 405, "POST only"
        done = browser.post("/dead-letters/replay", data=form, headers=SAME)
        assert done.status_code == 303 and done.headers["location"].endswith(dead)
    wait_until(lambda: depth(dash, EVENTS_QUEUE) == 1, 10, "the replayed event")
    assert depth(dash, DEAD_QUEUE) == 0


def test_a_new_start_signs_everyone_out(dash: Isolated) -> None:
    with client(dash, operator(dash)) as first:
        assert sign_in(first).status_code == 303
        cookie = first.cookies[COOKIE]
    with client(dash, operator(dash)) as second:
        second.cookies.set(COOKIE, cookie)
        assert "/operator/sign-out" not in second.get("/dead-letters").text


def test_sign_in_is_throttled(dash: Isolated) -> None:
    with client(dash, operator(dash)) as browser:
        for _ in range(FAILED_SIGN_INS):
            assert sign_in(browser, "wrong").status_code == 403
        assert sign_in(browser).status_code == 403, "even the right password, for a while"


def test_a_foreign_host_header_is_refused(dash: Isolated) -> None:
    with client(dash) as browser:
        assert browser.get("/", headers={"host": "rebound.evil.example"}).status_code == 400
