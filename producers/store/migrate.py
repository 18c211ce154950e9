"""Versioned migrations: numbered SQL files, applied in order, each exactly once.

`migrations/NNNN_name.sql` are applied by `provision db migrate`, each in its own
transaction, and recorded in `schema_migrations` with the file's sha256. A file that
changed after it was applied is an error, not a silent drift. An advisory lock keeps two
migrators from racing. Every process calls `check_schema` at start: a database behind the
code (or ahead of it) stops the process with one line saying what to run.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from importlib import resources

import psycopg

from producers.store.errors import MigrationError, SchemaMismatch
from producers.store.pool import connect

#: Any number, as long as it is ours: the advisory lock every migrator takes.
LOCK_ID = 0x70726F76
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT clock_timestamp()
)
"""


@dataclass(frozen=True)
class Migration:
    """One numbered SQL file."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


@dataclass(frozen=True)
class Applied:
    version: int
    name: str
    checksum: str
    applied_at: datetime


@dataclass(frozen=True)
class SchemaStatus:
    """Where a database stands against the migrations this code ships."""

    applied: list[Applied]
    pending: list[Migration]
    latest: int

    @property
    def current(self) -> int:
        return max((a.version for a in self.applied), default=0)


def available() -> list[Migration]:
    """The shipped migrations, in order. Raises MigrationError for a gap or a bad name."""
    folder = resources.files("producers.store") / "migrations"
    found: list[Migration] = []
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE.match(entry.name)
        if match is None:
            raise MigrationError(f"migration file {entry.name!r} is not named NNNN_name.sql")
        found.append(Migration(int(match.group(1)), match.group(2), entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise MigrationError(
                f"migrations must be numbered 1, 2, ... without gaps; "
                f"found {migration.version:04d} where {expected:04d} belongs"
            )
    return found


def applied(conn: psycopg.Connection) -> list[Applied]:
    """What the database has applied, in order; nothing for a database never migrated."""
    exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return []
    rows = conn.execute(
        "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version"
    ).fetchall()
    return [Applied(*row) for row in rows]


def status(conn: psycopg.Connection) -> SchemaStatus:
    """Applied and pending migrations. Raises MigrationError if an applied file changed."""
    shipped = available()
    done = applied(conn)
    by_version = {m.version: m for m in shipped}
    for row in done:
        migration = by_version.get(row.version)
        if migration is not None and migration.checksum != row.checksum:
            raise MigrationError(
                f"migration {row.version:04d}_{row.name} was changed after it was applied "
                "(its checksum differs); ship a new migration instead of editing an old one"
            )
    versions = {row.version for row in done}
    pending = [m for m in shipped if m.version not in versions]
    return SchemaStatus(done, pending, len(shipped))


def migrate(conn: psycopg.Connection, *, to: int | None = None) -> list[Migration]:
    """Apply every pending migration (up to version `to`); returns the ones applied now.

    `conn` must be in autocommit mode: each migration gets a transaction of its own, so a
    failing one leaves the database at the version before it, never half-applied.
    """
    if not conn.autocommit:
        raise ValueError("migrate needs a connection in autocommit mode")
    conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_ID,))
    try:
        conn.execute(_TABLE)
        now: list[Migration] = []
        for migration in status(conn).pending:
            if to is not None and migration.version > to:
                break
            try:
                with conn.transaction():
                    conn.execute(migration.sql.encode())
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum)"
                        " VALUES (%s, %s, %s)",
                        (migration.version, migration.name, migration.checksum),
                    )
            except psycopg.Error as exc:
                raise MigrationError(
                    f"migration {migration.version:04d}_{migration.name} failed and was rolled "
                    f"back: {' '.join(str(exc).split())}"
                ) from None
            now.append(migration)
        return now
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_ID,))


def check_schema(conn: psycopg.Connection) -> int:
    """The schema version, if it is exactly the one this code needs; else SchemaMismatch."""
    latest = len(available())
    current = max((row.version for row in applied(conn)), default=0)
    if current < latest:
        where = "has no schema yet" if current == 0 else f"schema is at version {current}"
        raise SchemaMismatch(
            f"the database {where}, this provision needs version {latest}: "
            "run `provision db migrate`"
        )
    if current > latest:
        raise SchemaMismatch(
            f"the database schema is at version {current}, newer than this provision knows "
            f"({latest}): upgrade provision"
        )
    return current


def require_schema(url: str | None = None) -> int:
    """`check_schema` on a connection of its own: what a process calls at start."""
    with connect(url) as conn:
        return check_schema(conn)
