"""The tests' own PostgreSQL databases: one per group and session, created fresh and migrated,
dropped at the end; never the user's `provisioning`."""

from __future__ import annotations

import contextlib
import os

from tests.services import need


def database_name_of(group: str) -> str:
    """One PostgreSQL database per group and test session; never the user's `provisioning`."""
    return f"provisioning_test_{group.replace('-', '_')}_{os.getpid()}"


def with_database(url: str, name: str) -> str:
    """`url` naming database `name` instead (same server, role and password)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def role_has(url: str, attribute: str, unreachable: str) -> bool:
    """Whether the role `url` logs in as has the boolean pg_roles `attribute`. When
    PostgreSQL does not answer, fails (CI) or skips with `unreachable` and the error."""
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            row = conn.execute(f"SELECT {attribute} FROM pg_roles WHERE rolname = current_user")
            return bool((row.fetchone() or [False])[0])
    except psycopg.Error as exc:
        need(False, f"{unreachable}: {exc}")
        raise  # not reached: need has failed or skipped the test


def pg_admin_url() -> str:
    """The server's `postgres` database as our role, proven to be allowed to create
    databases; fails (CI) or skips with the reason otherwise."""
    from producers.store.url import database_url, redact

    url = with_database(database_url(), "postgres")
    may_create = role_has(url, "rolcreatedb", f"PostgreSQL is not usable at {redact(url)}")
    need(may_create, "the PostgreSQL role may not create databases (run .ci/services)")
    return url


#: The local superuser over trust auth (what .ci/services and a development machine have):
#: the administrator `provision access apply` needs to create login roles.
SUPERUSER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def pg_superuser_url(name: str = "postgres") -> str:
    """Database `name` as the local superuser, proven to be one; fails (CI) or skips with
    the reason otherwise."""
    url = with_database(SUPERUSER_URL, name)
    unreachable = "PostgreSQL's superuser is not reachable over trust auth"
    need(role_has(url, "rolsuper", unreachable), "the postgres role is not a superuser")
    return url


def drop_roles(prefix: str) -> None:
    """Drop the login roles named `<prefix>-...`, as the superuser, if it is reachable.

    A role granted rights in a database still alive (the test group's) cannot be dropped
    until those grants go, and `DROP OWNED BY` acts only in the database it runs in: so it
    runs in each database the role has grants in (`pg_shdepend`), then the role goes.
    """
    import psycopg
    from psycopg import sql

    with contextlib.suppress(psycopg.Error), psycopg.connect(SUPERUSER_URL, autocommit=True) as c:
        pattern = prefix.replace("_", r"\_").replace("%", r"\%") + "-%"
        roles = [
            name
            for (name,) in c.execute(
                "SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (pattern,)
            )
        ]
        held = c.execute(
            "SELECT DISTINCT d.datname FROM pg_shdepend s"
            " JOIN pg_database d ON d.oid = s.dbid"
            " JOIN pg_roles r ON r.oid = s.refobjid"
            " WHERE r.rolname = ANY(%s) AND d.datallowconn",
            (roles,),
        ).fetchall()
        for (database,) in held:
            with (
                contextlib.suppress(psycopg.Error),
                psycopg.connect(with_database(SUPERUSER_URL, database), autocommit=True) as there,
            ):
                for name in roles:
                    there.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
        for name in roles:
            with contextlib.suppress(psycopg.Error):
                c.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
                c.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def make_database(name: str, *, migrated: bool = True) -> str:
    """A fresh database `name` (dropped first if left over), migrated; returns its URL."""
    import psycopg

    from producers.store.migrate import migrate

    admin = pg_admin_url()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = with_database(admin, name)
    if migrated:
        with psycopg.connect(url, autocommit=True) as conn:
            migrate(conn)
    return url


def drop_database(name: str) -> None:
    """Drop a database of the tests' own, whoever is still connected to it."""
    import psycopg

    from producers.store.url import database_url

    admin = with_database(database_url(), "postgres")
    with contextlib.suppress(psycopg.Error), psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
