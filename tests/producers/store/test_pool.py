"""The database URL, its redaction, and the pool a long-running process opens."""

from __future__ import annotations

import psycopg
import pytest

from producers.store.errors import DatabaseUnreachable
from producers.store.pool import open_pool
from producers.store.url import DEFAULT_URL, ENV, database_url, redact, scrub


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:s3cret@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgresql://u:p@ss@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u:s3cret@h:badport/db", "postgresql://u:***@h:badport/db"),
        (
            "postgresql://h/db?sslmode=require&password=s3cret",
            "postgresql://h/db?sslmode=require&password=***",
        ),
        ("host=h password=s3cret dbname=db", "host=h password=*** dbname=db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
    ],
)
def test_redact_hides_every_form_of_password(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_scrub_hides_the_password_even_in_a_quoted_fragment() -> None:
    url = "postgresql://u:p%40ss@h/db"
    assert scrub(f'bad value "p%40ss" and p@ss in {url}', url) == (
        'bad value "***" and *** in postgresql://u:***@h/db'
    )


def test_the_url_comes_from_the_environment_else_the_local_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    assert database_url() == DEFAULT_URL
    assert DEFAULT_URL.endswith("/provisioning")
    monkeypatch.setenv(ENV, "postgresql://elsewhere/db")
    assert database_url() == "postgresql://elsewhere/db"
    assert database_url("postgresql://given/db") == "postgresql://given/db"


def test_a_pool_reaches_the_database_and_an_unreachable_one_says_why(store_url: str) -> None:
    pool = open_pool(store_url, max_size=2)
    try:
        with pool.connection() as conn:
            row = conn.execute("SELECT count(*) FROM schema_migrations").fetchone()
            assert row is not None and row[0] >= 2
    finally:
        pool.close()
    with pytest.raises(
        DatabaseUnreachable, match=r"Connection refused|connection failed"
    ) as caught:
        open_pool("postgresql://u:s3cret-pw@127.0.0.1:1/db")
    assert "s3cret-pw" not in str(caught.value)


def test_the_pool_replaces_a_connection_the_server_dropped(store_url: str) -> None:
    """What a PostgreSQL restart does to a pool, on our own database only."""
    pool = open_pool(store_url, min_size=1, max_size=1)
    try:
        with pool.connection() as conn:
            row = conn.execute("SELECT pg_backend_pid()").fetchone()
            assert row is not None
            first = row[0]
        with pool.connection() as other:  # the same, pooled, connection
            assert other.execute("SELECT pg_backend_pid()").fetchone() == (first,)
        with psycopg.connect(store_url, autocommit=True) as admin:
            # With a timeout, PostgreSQL waits until the backend is gone.
            admin.execute("SELECT pg_terminate_backend(%s, 10000)", (first,))
        with pool.connection() as conn:
            row = conn.execute("SELECT pg_backend_pid()").fetchone()
            assert row is not None and row[0] != first
    finally:
        pool.close()
