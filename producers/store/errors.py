"""Errors of the system of record, each with the exit code a script can branch on."""

from __future__ import annotations

from contracts import ExitCode, ProvisioningError, ServiceUnreachable


class DatabaseUnreachable(ServiceUnreachable):
    """PostgreSQL did not answer or refused us. The URL in the message has no password."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__("PostgreSQL", url, reason)


class SchemaMismatch(ProvisioningError):
    """The database schema is not the version this code needs; the message says what to run.

    It exits like an unreachable service: the process cannot use its database as it is.
    """

    exit_code = ExitCode.UNREACHABLE


class MigrationError(ProvisioningError):
    """A migration file is missing, malformed, or differs from the one already applied."""

    exit_code = ExitCode.FAILED
