"""`provision dashboard`: the live web dashboard for on-call (`producers.dashboard`)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from broker_config import Endpoints
from producers.cli import cli

#: The default port, as documented.
DEFAULT_PORT = 8642


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=DEFAULT_PORT, show_default=True)
@click.option(
    "--operator-credentials",
    "credentials_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A 0600 file holding the broker URL replays publish as (e.g. the "
    "`provision access apply` file of the controller's user); its password signs the "
    "operator in. Without it the dashboard is read-only.",
)
def dashboard(host: str, port: int, credentials_file: Path | None) -> None:
    """Serve the live dashboard: rollouts, failures, compliance, dead letters, audit trail.

    Read-only unless --operator-credentials is given; listens on 127.0.0.1 by default.
    """
    import uvicorn

    from producers.dashboard.app import create_app
    from producers.dashboard.operator import OperatorGate, read_credentials
    from producers.store.database import Database

    credentials = read_credentials(credentials_file) if credentials_file else None
    # A pool of its own: pages and the live sections read in worker threads at once.
    db = Database.open(max_size=4, name="provision-dashboard")
    click.get_current_context().call_on_close(db.close)
    app = create_app(db, Endpoints.from_env(), OperatorGate(credentials), host=host)
    mode = "operator sign-in at /operator" if credentials else "read-only"
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"dashboard: http://{shown}:{port}/ ({mode})")
    sys.stdout.flush()
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
        proxy_headers=False,
        server_header=False,
    )
