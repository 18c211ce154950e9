"""Options shared by commands: `--selector KEY=VALUE` to pick targets, `--timeout` in seconds."""

from __future__ import annotations

from collections.abc import Callable

import click
from click.decorators import FC

from contracts import Selector

HELP = (
    "KEY=VALUE, repeatable, all must match: environment=, region=, target= (an id, "
    "repeatable) or any label, e.g. role=web."
)


def selector_option(function: click.decorators.FC) -> click.decorators.FC:
    return click.option("--selector", "selector", multiple=True, metavar="KEY=VALUE", help=HELP)(
        function
    )


def timeout_option(default: float | None, help: str | None = None) -> Callable[[FC], FC]:
    """`--timeout SECONDS` (into `timeout_s`), positive; its default shown when it has one."""
    return click.option(
        "--timeout",
        "timeout_s",
        type=click.FloatRange(min=0, min_open=True),
        default=default,
        show_default=default is not None,
        help=help,
    )


def parse_selector(items: tuple[str, ...]) -> Selector:
    """Build a Selector; a malformed item is a usage error naming it."""
    fields: dict[str, object] = {"labels": {}}
    ids: list[str] = []
    for item in items:
        for part in item.split(","):
            key, sep, value = part.partition("=")
            if not sep or not key.strip() or not value.strip():
                raise click.BadParameter(f"{part!r} is not KEY=VALUE", param_hint="--selector")
            key, value = key.strip(), value.strip()
            if key in ("environment", "region"):
                fields[key] = value
            elif key in ("target", "targets"):
                ids.append(value)
            else:
                fields["labels"][key] = value  # type: ignore[index]
    if ids:
        fields["targets"] = tuple(ids)
    return Selector.model_validate(fields)


def trusted_sender_option(function: FC) -> FC:
    """`--trusted-sender USER` (repeatable, into `trusted`): outcomes' senders trusted for
    every target, on top of PROVISION_TRUSTED_SENDERS (broker_config.senders)."""
    return click.option(
        "--trusted-sender",
        "trusted",
        multiple=True,
        metavar="USER",
        help="A broker user that may speak for EVERY target's outcomes (repeatable; also "
        "PROVISION_TRUSTED_SENDERS, comma-separated). For single-user development, where "
        "every process is guest; a deployment with a user per role needs none.",
    )(function)
