"""The main job: a demo fleet of local targets, converged end to end on the real broker.

It is the smallest deployment that proves the whole path: the CLI publishes, a worker per
region converges, the aggregator records, and the ledger says what happened. It brings its
database's schema up to date itself (as `provision db migrate` does) before it starts
anything, so `make demo` on a fresh machine is one command.

Every process runs as its own role in every store it uses: the demo creates each role's
RabbitMQ user (on its vhost), Redis ACL user and PostgreSQL login role as `provision access
apply` does (`producers.demo_access`), keeps their credentials under `<state-dir>/access`,
and starts the controller, each regional worker and the aggregator with their own role's
env file (PROVISION_ENV_FILE); it publishes its change event as the operator (the CLI).
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import platformdirs
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker_config import Endpoints
from broker_config.connections import connect_broker, connect_redis
from broker_config.permissions import OPERATOR_EMITTER
from contracts import ChangeFile, Selector, Target
from contracts.issuers import Scope
from contracts.signatures import load_private_key, new_private_key, public_pem, write_private_key
from producers.demo_access import DemoAccess
from producers.messaging.emitter import publish_event
from producers.processes.commands import aggregator_argv, controller_argv, worker_argv
from producers.processes.supervisor import Supervisor
from producers.records.ledger import Ledger
from producers.rollouts.intake import event_from_file
from producers.rollouts.progress import Settled, wait_for
from producers.rollouts.store import RolloutBook
from producers.store.database import Database
from producers.store.migrate import Migration, migrate
from producers.store.pool import connect
from producers.truth.issuers import Registry

REGIONS = ("eu", "us")
STATE_DIR_ENV = "PROVISION_STATE_DIR"
#: The issuer the demo signs its change event as, and all it may change.
DEMO_ISSUER = "demo-operator"
DEMO_SCOPE = Scope(kinds=("directory", "file"), paths=("/etc/demo",))


def default_state_dir() -> Path:
    """`--state-dir`, else PROVISION_STATE_DIR, else the user's state dir."""
    env = os.environ.get(STATE_DIR_ENV)
    return Path(env) if env else Path(platformdirs.user_state_dir("provisioning")) / "demo"


def demo_fleet(root: Path, count: int) -> list[Target]:
    """`count` local targets spread over two regions, each with its own root directory."""
    roles = ("web", "db", "cache")
    return [
        Target(
            id=f"demo-{i:03d}",
            region=REGIONS[i % len(REGIONS)],
            environment="demo",
            labels={"role": roles[i % len(roles)]},
            address=f"local://{root / 'targets' / f'demo-{i:03d}'}",
        )
        for i in range(1, count + 1)
    ]


def demo_change(fleet: list[Target]) -> ChangeFile:
    """A small, deterministic desired state, so a second run is all `converged`."""
    return ChangeFile.model_validate(
        {
            "targets": [t.model_dump() for t in fleet],
            "selector": Selector(environment="demo").model_dump(),
            "rollout": {"waves": [1, "50%", "100%"], "max_failures": 0},
            "resources": [
                {"kind": "directory", "path": "/etc/demo", "mode": "0755"},
                {
                    "kind": "file",
                    "path": "/etc/demo/motd",
                    "mode": "0644",
                    "content": "This machine is managed by provisioning.\n",
                },
                {
                    "kind": "file",
                    "path": "/etc/demo/app.conf",
                    "mode": "0640",
                    "content": "listen = 0.0.0.0:8080\nworkers = 4\nlog_level = info\n",
                    "requires": ["/etc/demo"],
                },
            ],
        }
    )


def demo_key(state_dir: Path, db: Database, *, actor: str) -> Ed25519PrivateKey:
    """The demo's operator key (`<state-dir>/keys/demo-operator.key`, made on first use),
    registered with the demo's narrow scope, so a fresh machine needs no setup."""
    keys = state_dir / "keys"
    keys.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = keys / f"{DEMO_ISSUER}.key"
    if not path.exists():
        write_private_key(path, new_private_key())
    key = load_private_key(path)
    Registry(db).ensure(DEMO_ISSUER, DEMO_SCOPE, key, actor=actor)
    return key


@dataclass
class DemoResult:
    end: Settled
    problems: list[str]


def migrate_database() -> list[Migration]:
    """Apply the pending migrations to PROVISION_DATABASE_URL; returns the ones applied now.

    The demo's processes check the schema at start and refuse a database behind the code,
    so the demo migrates first, exactly as `provision db migrate` would (safe to repeat).
    """
    with connect(autocommit=True) as conn:
        return migrate(conn)


def demo_controller_key(directory: Path) -> tuple[Path, Path]:
    """The demo's own controller key pair (made once, kept in the state directory): its
    controller signs with it and its workers verify with the public half."""
    private, public = directory / "controller.key", directory / "controller.pub"
    if not private.exists():
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = new_private_key()
        write_private_key(private, key)
        public.write_text(public_pem(key))
    return private, public


def run_demo(
    state_dir: Path,
    count: int,
    *,
    timeout_s: float,
    issued_by: str,
    access: DemoAccess,
    show: bool = True,
) -> DemoResult:
    """Migrate the database; start the controller, workers and aggregator, each as its
    role's user (`access`); roll the demo change out as the operator; stop them."""
    endpoints = Endpoints.from_env()
    migrate_database()
    client = connect_redis(endpoints)
    fleet = demo_fleet(state_dir.resolve(), count)
    for target in fleet:
        Path(target.address.removeprefix("local://")).mkdir(parents=True, exist_ok=True)
    change = demo_change(fleet)
    (state_dir / "change.yaml").write_text(
        yaml.safe_dump(change.model_dump(mode="json"), sort_keys=False)
    )

    def interrupted(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupted)
    try:
        with (
            Database.open(max_size=2, name="demo") as db,
            Supervisor(state_dir / "logs") as children,
        ):
            private, public = demo_controller_key(state_dir / "controller")
            for region in REGIONS:
                allow = f"local://{state_dir.resolve() / 'targets'}/*"  # its own roots only
                name = f"worker-{region}"
                argv = worker_argv(
                    region, allow=allow, loglevel="WARNING", controller_public_key=str(public)
                )
                children.start(name, argv, access.env(name))
            children.start("aggregator", aggregator_argv(), access.env("aggregator"))
            controller = controller_argv(controller_key=str(private))
            children.start("controller", controller, access.env("controller"))
            key = demo_key(state_dir, db, actor=issued_by)
            event = event_from_file(change, issued_by=issued_by)
            operator = access.urls("operator")["PROVISION_BROKER_URL"]
            connection = connect_broker(Endpoints(operator, endpoints.redis_url))
            try:
                publish_event(connection, event, routing_key=OPERATOR_EMITTER, key=key)
            finally:
                connection.close()
            end = wait_for(
                RolloutBook(db, client),
                Ledger(db),
                event.change_id,
                timeout_s=timeout_s,
                show=show,
            )
            problems = children.failed()
    finally:
        signal.signal(signal.SIGTERM, previous)
    return DemoResult(end, problems)
