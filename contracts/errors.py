"""The error root and the exit codes every `provision` command shares.

Exit codes are public interface: scripts branch on them, so they live with the contracts.
"""

import sys
from enum import IntEnum
from typing import Any, NoReturn


class ExitCode(IntEnum):
    """Process exit codes of every `provision` command."""

    OK = 0
    #: The command ran, but at least one target failed or was rejected.
    FAILED = 1
    #: Bad input: a file, a field or a flag broke the contract. Nothing was published.
    INPUT = 2
    #: RabbitMQ or Redis could not be reached.
    UNREACHABLE = 3
    #: A bounded wait ran out before every target had an outcome.
    TIMEOUT = 4


class ProvisioningError(Exception):
    """Root of every error this project raises on purpose."""

    exit_code: ExitCode = ExitCode.FAILED


class ContractError(ProvisioningError):
    """Input broke a contract. The message names the source, the field path and the reason."""

    exit_code = ExitCode.INPUT

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        lines = [f"{source}: {path or '<root>'}: {reason}" for path, reason in problems]
        super().__init__("\n".join(lines))

    @classmethod
    def from_validation(cls, source: str, error: object, prefix: str = "") -> "ContractError":
        """Wrap a pydantic ValidationError, keeping each problem's dotted field path."""
        problems: list[tuple[str, str]] = []
        for item in error.errors(include_url=False):  # type: ignore[attr-defined]
            loc = [str(part) for part in item["loc"] if not str(part).startswith("function-")]
            path = ".".join(part for part in [prefix, *loc] if part)
            problems.append((path, item["msg"].removeprefix("Value error, ")))
        return cls(source, problems)


class ServiceUnreachable(ProvisioningError):
    """RabbitMQ or Redis did not answer. The message names the URL, never its password."""

    exit_code = ExitCode.UNREACHABLE

    def __init__(self, service: str, url: str, reason: str) -> None:
        self.service = service
        self.url = url
        super().__init__(f"{service} unreachable at {url}: {reason}")


def run_command(group: Any) -> NoReturn:
    """Run a click group as `provision` runs every command, on both planes.

    Known errors become one line on stderr and their exit code (a traceback only with
    --debug); usage errors exit 2; Ctrl-C exits 130 without a traceback.
    """
    import click

    debug = "--debug" in sys.argv[1:]
    try:
        code = group.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(ExitCode.INPUT)
    except ProvisioningError as exc:
        if debug:
            raise
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
