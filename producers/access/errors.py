"""The one error of `provision access` outside RabbitMQ's management API."""

from __future__ import annotations

from contracts import ExitCode, ProvisioningError


class AccessError(ProvisioningError):
    """Redis or PostgreSQL refused to create, change or drop a role's identity; the message
    says which, why, and (never) any password."""

    exit_code = ExitCode.FAILED
