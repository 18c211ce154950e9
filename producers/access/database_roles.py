"""PostgreSQL login roles per process role, with exactly `grants.py`'s privileges.

Applied with an administrator's connection (a superuser, or a CREATEROLE role that owns the
tables) on the database the roles will use. Roles are cluster-wide, so their names carry the
prefix; grants are per database. Each role is marked `COMMENT ON ROLE ... IS 'provision-<role>'`
so `show` and `drop_role` can tell ours from anyone else's. Passwords go to the server as
SCRAM-SHA-256 verifiers, never in clear (nothing for a statement log to keep).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from broker_config.endpoints import with_credentials
from broker_config.permissions import ROLES, TAG_PREFIX
from producers.access.errors import AccessError
from producers.access.grants import grants_of, sequences_of
from producers.store.migrate import check_schema

#: Attributes every role of ours has: it logs in, and can do nothing beyond its grants.
ATTRIBUTES = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS"


def scram_verifier(conn: psycopg.Connection, user: str, password: str) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for `password`, made by libpq itself
    (PQencryptPasswordConn): the server checks logins against it, and never sees the
    password."""
    made = conn.pgconn.encrypt_password(password.encode(), user.encode(), b"scram-sha-256")
    return made.decode()


def role_url(admin_url: str, user: str, password: str) -> str:
    """`admin_url` (host, port, database, query) as `user` with `password`."""
    parts = urlsplit(admin_url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise AccessError("the database URL must be postgresql://USER@HOST:PORT/DATABASE")
    return with_credentials(admin_url, user, password, parts.path)


#: Where `provision access` is told its PostgreSQL administrator (check_admin's advice).
ADMIN_HINT = "--database-url (or PROVISION_DATABASE_URL)"


def check_admin(conn: psycopg.Connection, *, hint: str = ADMIN_HINT) -> None:
    """The connection may create roles and the schema is this code's; else one clear line
    that says where to name an administrator (`hint`)."""
    row = conn.execute(
        "SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user"
    ).fetchone()
    if not row or not row[0]:
        raise AccessError(
            f"the database URL's role may not create roles: pass {hint} with a superuser or "
            "a CREATEROLE role that owns the tables, "
            "e.g. postgresql://postgres@127.0.0.1:5432/provisioning"
        )
    check_schema(conn)


def exists(conn: psycopg.Connection, name: str) -> bool:
    row = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
    return row is not None


def check_ours(conn: psycopg.Connection, names: list[str]) -> None:
    """Each of `names` is free or one of ours; else AccessError (nothing is changed)."""
    for name, comment in conn.execute(
        "SELECT rolname, shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = ANY(%s)",
        (names,),
    ).fetchall():
        if not str(comment or "").startswith(TAG_PREFIX):
            raise AccessError(
                f"PostgreSQL role {name!r} exists and is not a provision role (no "
                f"'{TAG_PREFIX}<role>' comment): left alone; choose another --prefix"
            )


def ensure_role(conn: psycopg.Connection, name: str, role: str, password: str) -> None:
    """Create or update login role `name` for `role` with exactly its grants, in one
    transaction: any other privilege it held on this database's tables is revoked."""
    grants = grants_of(role)
    if not grants:
        raise ValueError(f"role {role!r} has no database grants")
    ident = sql.Identifier(name)
    verifier = sql.Literal(scram_verifier(conn, name, password))
    with conn.transaction():
        check_ours(conn, [name])
        verb = "ALTER" if exists(conn, name) else "CREATE"
        conn.execute(
            sql.SQL("{} ROLE {} {} PASSWORD {}").format(
                sql.SQL(verb), ident, sql.SQL(ATTRIBUTES), verifier
            )
        )
        conn.execute(
            sql.SQL("COMMENT ON ROLE {} IS {}").format(ident, sql.Literal(TAG_PREFIX + role))
        )
        for kind in ("TABLES", "SEQUENCES"):
            conn.execute(
                sql.SQL("REVOKE ALL ON ALL {} IN SCHEMA public FROM {}").format(
                    sql.SQL(kind), ident
                )
            )
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(_database(conn)), ident
            )
        )
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(ident))
        for table, privileges in sorted(grants.items()):
            conn.execute(
                sql.SQL("GRANT {} ON TABLE {} TO {}").format(
                    sql.SQL(", ").join(sql.SQL(p) for p in privileges),
                    sql.Identifier(table),
                    ident,
                )
            )
        for sequence in sequences_of(role):
            conn.execute(
                sql.SQL("GRANT USAGE ON SEQUENCE {} TO {}").format(sql.Identifier(sequence), ident)
            )


def drop_role(conn: psycopg.Connection, name: str) -> str | None:
    """Drop login role `name` if it is one of ours; why not, else None (dropped).

    Its privileges on this database are revoked first (and, for a superuser admin, anything
    it owns reassigned to the admin): privileges it holds on another database keep it, and
    the error says so.
    """
    row = conn.execute(
        "SELECT r.rolsuper, shobj_description(r.oid, 'pg_authid'), r.rolname = current_user"
        " FROM pg_roles r WHERE r.rolname = %s",
        (name,),
    ).fetchone()
    if row is None:
        return "no such role"
    superuser, comment, is_admin = row
    if is_admin or superuser:
        return "refusing to drop the administrator or a superuser"
    if not (comment or "").startswith(TAG_PREFIX) or comment[len(TAG_PREFIX) :] not in ROLES:
        return "not a provision role (no provision-<role> comment): left alone"
    ident = sql.Identifier(name)
    admin_is_super = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    try:
        with conn.transaction():
            for kind in ("TABLES", "SEQUENCES"):
                conn.execute(
                    sql.SQL("REVOKE ALL ON ALL {} IN SCHEMA public FROM {}").format(
                        sql.SQL(kind), ident
                    )
                )
            conn.execute(sql.SQL("REVOKE ALL ON SCHEMA public FROM {}").format(ident))
            conn.execute(
                sql.SQL("REVOKE ALL ON DATABASE {} FROM {}").format(
                    sql.Identifier(_database(conn)), ident
                )
            )
            if (admin_is_super.fetchone() or [False])[0]:
                conn.execute(sql.SQL("REASSIGN OWNED BY {} TO CURRENT_USER").format(ident))
                conn.execute(sql.SQL("DROP OWNED BY {}").format(ident))
            conn.execute(sql.SQL("DROP ROLE {}").format(ident))
    except psycopg.Error as exc:
        raise AccessError(
            f"PostgreSQL role {name!r} could not be dropped: {' '.join(str(exc).split())}"
        ) from None
    return None


def show(conn: psycopg.Connection, prefix: str) -> list[dict[str, Any]]:
    """Our login roles (tagged, or named `<prefix>-...`) and their grants on this database."""
    rows = conn.execute(
        "SELECT r.rolname, shobj_description(r.oid, 'pg_authid'), r.rolcanlogin"
        " FROM pg_roles r WHERE shobj_description(r.oid, 'pg_authid') LIKE %s"
        " OR r.rolname LIKE %s ORDER BY r.rolname",
        (TAG_PREFIX + "%", prefix.replace("_", r"\_").replace("%", r"\%") + "-%"),
    ).fetchall()
    found: list[dict[str, Any]] = []
    for name, comment, can_login in rows:
        grants: dict[str, list[str]] = {}
        for table, privilege in conn.execute(
            "SELECT table_name, privilege_type FROM information_schema.role_table_grants"
            " WHERE grantee = %s AND table_schema = 'public' ORDER BY table_name, privilege_type",
            (name,),
        ).fetchall():
            grants.setdefault(table, []).append(privilege)
        role = (comment or "")[len(TAG_PREFIX) :] if (comment or "").startswith(TAG_PREFIX) else ""
        found.append({"role_name": name, "role": role or "-", "login": can_login, "grants": grants})
    return found


def _database(conn: psycopg.Connection) -> str:
    row = conn.execute("SELECT current_database()").fetchone()
    assert row is not None
    return str(row[0])
