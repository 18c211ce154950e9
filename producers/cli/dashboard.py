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
    "operator in. Without it the dashboard is read-only. Beyond loopback it needs TLS.",
)
@click.option(
    "--tls-cert",
    type=click.Path(path_type=Path),
    default=None,
    help="PEM certificate (chain, the server's first) to serve HTTPS with; needs --tls-key.",
)
@click.option(
    "--tls-key",
    type=click.Path(path_type=Path),
    default=None,
    help="The certificate's PEM private key: unencrypted, readable by its owner only (0600).",
)
def dashboard(
    host: str,
    port: int,
    credentials_file: Path | None,
    tls_cert: Path | None,
    tls_key: Path | None,
) -> None:
    """Serve the live dashboard: rollouts, failures, compliance, dead letters, audit trail.

    Read-only unless --operator-credentials is given; listens on 127.0.0.1 by default;
    serves HTTPS with --tls-cert and --tls-key. Operator mode on an address other than
    loopback is refused without TLS (its password would cross the network in clear).
    """
    if (tls_cert is None) != (tls_key is None):
        given, missing = (
            ("--tls-cert", "--tls-key") if tls_key is None else ("--tls-key", "--tls-cert")
        )
        raise click.UsageError(f"{given} needs {missing}: give both to serve HTTPS, or neither")

    import uvicorn

    from producers.dashboard.app import create_app
    from producers.dashboard.operator import OperatorGate, read_credentials
    from producers.dashboard.tls import exposure, server_context
    from producers.store.database import Database

    context = None
    if tls_cert is not None and tls_key is not None:
        context = server_context(tls_cert, tls_key)
    warning = exposure(host, operator=credentials_file is not None, tls=context is not None)
    if warning:
        click.echo(warning, err=True)
    credentials = read_credentials(credentials_file) if credentials_file else None
    # A pool of its own: pages and the live sections read in worker threads at once.
    db = Database.open(max_size=4, name="provision-dashboard")
    click.get_current_context().call_on_close(db.close)
    gate = OperatorGate(credentials)
    app = create_app(db, Endpoints.from_env(), gate, host=host, tls=context is not None)
    mode = "operator sign-in at /operator" if credentials else "read-only"
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"dashboard: {'https' if context else 'http'}://{shown}:{port}/ ({mode})")
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
        # The context checked above is the one served: nothing is loaded twice.
        ssl_context_factory=(lambda config, default: context) if context else None,
    )
