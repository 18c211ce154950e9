"""`provision schema`, `provision broker declare` and `provision aggregator`."""

from __future__ import annotations

import os

import click

from broker_config import Endpoints, declare
from broker_config.connections import connect_broker
from broker_config.senders import Senders
from contracts.command_line import metrics_options
from contracts.schemas import SCHEMAS, schema_text
from producers.cli import cli
from producers.cli.options import trusted_sender_option


@cli.command()
@click.argument("name", required=False)
def schema(name: str | None) -> None:
    """Print the JSON Schema of contract NAME (without NAME: list the names)."""
    if name is None:
        click.echo("\n".join(sorted(SCHEMAS)))
        return
    if name not in SCHEMAS:
        raise click.BadParameter(
            f"unknown schema {name!r}; known: {', '.join(sorted(SCHEMAS))}", param_hint="NAME"
        )
    click.echo(schema_text(name), nl=False)


@cli.group()
def broker() -> None:
    """RabbitMQ topology."""


@broker.command("declare")
@click.option(
    "--region",
    "regions",
    multiple=True,
    help="Declare this region's change queue (repeatable). Also PROVISION_REGIONS.",
)
def broker_declare(regions: tuple[str, ...]) -> None:
    """Declare exchanges, queues and bindings. Safe to run any number of times."""
    from_env = [r for r in os.environ.get("PROVISION_REGIONS", "").split(",") if r]
    connection = connect_broker(Endpoints.from_env())
    try:
        names = declare(connection, [*regions, *from_env])
    finally:
        connection.close()
    for name in names:
        click.echo(f"declared {name}")


@cli.command()
@metrics_options
@trusted_sender_option
def aggregator(metrics_port: int | None, metrics_host: str, trusted: tuple[str, ...]) -> None:
    """Record outcome events from provision.results in PostgreSQL, until stopped.

    Outcomes are written in batches (one transaction each) and acked only once committed;
    an outcome whose sender may not speak for its target is recorded as a refusal instead.
    """
    from producers.records.aggregator import run_aggregator

    if metrics_port is not None:
        from producers.metrics.registry import serve

        serve("aggregator", metrics_port, metrics_host)
    run_aggregator(Endpoints.from_env(), Senders.from_env(trusted))
