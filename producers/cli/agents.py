"""`provision enroll` and `provision compliance`: the control-plane side of pull mode."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

import click
import psycopg
from rich.console import Console

from broker_config import Endpoints
from producers.access.enroll import agent_broker_url
from producers.cli import cli
from producers.cli.controller_key import controller_public_pem
from producers.cli.db import open_database
from producers.cli.options import parse_selector, selector_option
from producers.cli.tables import table
from producers.pull.enrollment import Enrollment, known_target, write_credentials
from producers.records import audit
from producers.records.compliance import Compliance, counts
from producers.records.inventory import fleet
from producers.store.enrollments import Enrolled

#: The broker URL agents get when `--broker-url` is not given (else a user of their own).
AGENT_BROKER_URL_ENV = "PROVISION_AGENT_BROKER_URL"


@cli.command()
@click.argument("target")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write credentials.json into (created 0700; the file is 0600).",
)
@click.option(
    "--broker-url",
    default=None,
    help=f"RabbitMQ URL the agent uses (a user with only the agent role); default "
    f"${AGENT_BROKER_URL_ENV}, else a user of its own, `provision-agent-TARGET`, created "
    "with exactly the agent role through the management API (see `provision access`).",
)
@click.option(
    "--admin-url", default=None, help="Management API URL (default $PROVISION_ADMIN_URL)."
)
@click.option(
    "--controller-public-key",
    "controller_public_key",
    default=None,
    metavar="PATH",
    help="The controller's public key (PEM) written into the credentials; default "
    "$PROVISION_CONTROLLER_PUBLIC_KEY, else the public half of $PROVISION_CONTROLLER_KEY.",
)
def enroll(
    target: str,
    out: Path,
    broker_url: str | None,
    admin_url: str | None,
    controller_public_key: str | None,
) -> None:
    """Issue TARGET's agent credentials into --out: a new key pair and broker password
    (enrolling again rotates both), and the controller's public key."""
    public = controller_public_pem(controller_public_key)  # exit 2 before anything changes
    db = open_database()
    who = audit.actor()  # a bad PROVISION_ACTOR stops here, before anything changes
    url = broker_url or os.environ.get(AGENT_BROKER_URL_ENV)
    if url is None:  # never the control plane's own URL: the agent gets a user of its own
        url = agent_broker_url(known_target(db, target), Endpoints.from_env().broker_url, admin_url)

    def recorded(conn: psycopg.Connection, before: Enrolled | None, public_key: str) -> None:
        detail = {
            "target": target,
            "public_key": public_key,
            "previous_public_key": before.public_key if before else None,
            "previously_enrolled_at": before.enrolled_at.isoformat() if before else None,
            "broker_user": _user_of(url),  # never its password
        }
        action = "agent.rotate" if before is not None else "agent.enroll"
        audit.record(conn, action, target, detail, who=who)

    credentials = Enrollment(db).enroll(target, url, public, then=recorded)
    path = write_credentials(out, credentials)
    click.echo(f"enrolled {target}: {path}")
    click.echo(f"start its agent with: provision agent --target {target} --credentials {out}")


def _user_of(url: str) -> str | None:
    """The user name in a broker URL (for the audit trail), None when it has none."""
    try:
        name = urlsplit(url).username
    except ValueError:
        return None
    return unquote(name) if name else None


@cli.command()
@selector_option
@click.option("--json", "as_json", is_flag=True, help="Print {targets: [...], counts: {...}}.")
def compliance(selector: tuple[str, ...], as_json: bool) -> None:
    """Each target: aligned, drifted, failed, excepted, pending or unknown; revision, last check-in.

    Unknown means never seen, or no check-in within twice the target's interval.
    """
    chosen = parse_selector(selector)
    db = open_database()
    targets = [t for t in fleet(db) if chosen.matches(t)]
    standings = Compliance(db).standings(targets, datetime.now(UTC))
    totals = counts(standings)
    if as_json:
        click.echo(json.dumps({"targets": [s.as_json() for s in standings], "counts": totals}))
        return
    rows = [
        (
            s.target,
            s.state.value,
            "-" if s.revision is None else str(s.revision),
            s.last_seen.isoformat(timespec="seconds") if s.last_seen else "never",
            s.delivery or "-",
            ",".join(s.differed),
        )
        for s in standings
    ]
    columns = ("target", "state", "revision", "last seen", "delivery", "differed")
    Console().print(table(columns, rows))
    click.echo(" ".join(f"{state}={n}" for state, n in totals.items()))
