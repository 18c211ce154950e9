"""Control-plane errors, each with the exit code a script can branch on."""

from contracts import ExitCode, ProvisioningError


class SelectionError(ProvisioningError):
    """The selector picked no target, or a picked target's region has no queue."""

    exit_code = ExitCode.INPUT


class PublishError(ProvisioningError):
    """The broker refused or could not route a change request."""

    exit_code = ExitCode.FAILED


class UnknownChange(ProvisioningError):
    """No change with that id is in the ledger."""

    exit_code = ExitCode.INPUT


class AmbiguousChange(ProvisioningError):
    """A change id prefix matches more than one change; the message names them."""

    exit_code = ExitCode.INPUT

    def __init__(self, prefix: str, matches: list[str], total: int) -> None:
        self.prefix = prefix
        self.matches = matches
        more = f" and {total - len(matches)} more" if total > len(matches) else ""
        super().__init__(
            f"{prefix!r} matches {total} changes: {', '.join(matches)}{more}; type more of the id"
        )
