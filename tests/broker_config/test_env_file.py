"""PROVISION_ENV_FILE: a role's environment file, read as hostile input and loaded at start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from broker_config.env_file import EnvFileError, load_env_file, read_env_file
from contracts.signatures import new_private_key, public_pem
from tests.isolation import ROOT

SECRET = "s3cret-pw"
BROKER = f"amqp://provision-worker-eu:{SECRET}@127.0.0.1:1/%2F"
REDIS = f"redis://provision-worker-eu:{SECRET}@127.0.0.1:2/0"


def env_file(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "provision-worker-eu.env"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_the_file_s_values_win_for_the_names_it_carries(tmp_path: Path) -> None:
    path = env_file(tmp_path, f"# worker eu\n\nPROVISION_BROKER_URL={BROKER}\n"
                    f"PROVISION_REDIS_URL='{REDIS}'\n")  # fmt: skip
    environ = {
        "PROVISION_ENV_FILE": str(path),
        "PROVISION_BROKER_URL": "amqp://guest:guest@127.0.0.1/%2F",
        "PROVISION_REDIS_URL": "redis://shared.example/",
        "PROVISION_DATABASE_URL": "postgresql://shared@db/provisioning",
    }
    assert load_env_file(environ) == ["PROVISION_BROKER_URL", "PROVISION_REDIS_URL"]
    assert environ["PROVISION_BROKER_URL"] == BROKER
    assert environ["PROVISION_REDIS_URL"] == REDIS  # unquoted, as compose reads it
    assert environ["PROVISION_DATABASE_URL"] == "postgresql://shared@db/provisioning"
    assert load_env_file({}) == [] and load_env_file({"PROVISION_ENV_FILE": ""}) == []


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (f"LD_PRELOAD=/tmp/evil.so\nPROVISION_BROKER_URL={BROKER}\n", "line 1: LD_PRELOAD is not"),
        (f"PROVISION_BROKER_URL={BROKER}\n{REDIS}\n", "line 2: not a NAME=value line"),
        (f"export PROVISION_BROKER_URL={BROKER}\n", "line 1: not a NAME=value line"),
        (f"PROVISION_BROKER_URL={BROKER}\nPROVISION_BROKER_URL={BROKER}\n", "line 2: .* twice"),
        (f"PROVISION_BROKER_URL={REDIS}\n", "line 1: PROVISION_BROKER_URL is not a amqp://"),
        (f"PROVISION_DATABASE_URL={BROKER}\n", "line 1: PROVISION_DATABASE_URL is not a postgr"),
        (f"PROVISION_REDIS_URL={REDIS}\x1b[2J\n", "line 1: .* control character"),
        ("PROVISION_REDIS_URL=\n", "line 1: PROVISION_REDIS_URL is not a redis://"),
    ],
)
def test_anything_but_known_names_with_urls_is_refused_by_line_without_a_value(
    tmp_path: Path, text: str, reason: str
) -> None:
    path = env_file(tmp_path, text)
    with pytest.raises(EnvFileError, match=f"^PROVISION_ENV_FILE={path}: {reason}") as caught:
        read_env_file(str(path))
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o602, 0o644])
def test_a_file_others_may_read_or_write_is_refused(tmp_path: Path, mode: int) -> None:
    path = env_file(tmp_path, f"PROVISION_BROKER_URL={BROKER}\n", mode)
    with pytest.raises(EnvFileError, match=f"mode 0{mode:o} lets others"):
        read_env_file(str(path))


def test_not_a_file_too_large_not_text_or_missing_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EnvFileError, match="not a regular file"):
        read_env_file(str(tmp_path))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(EnvFileError, match="not a regular file"):
        read_env_file(str(fifo))  # opened without blocking on a writer
    with pytest.raises(EnvFileError, match="larger than"):
        read_env_file(str(env_file(tmp_path, "#" * 20_000)))
    path = env_file(tmp_path, "")
    path.write_bytes(b"PROVISION_REDIS_URL=\xff\n")
    with pytest.raises(EnvFileError, match="not UTF-8"):
        read_env_file(str(path))
    with pytest.raises(EnvFileError, match="cannot open it"):
        read_env_file(str(tmp_path / "missing.env"))


def test_a_file_with_the_broker_url_and_a_broker_url_file_is_a_mistake(tmp_path: Path) -> None:
    path = env_file(tmp_path, f"PROVISION_BROKER_URL={BROKER}\n")
    environ = {"PROVISION_ENV_FILE": str(path), "PROVISION_BROKER_URL_FILE": "/access/x.url"}
    with pytest.raises(EnvFileError, match="unset PROVISION_BROKER_URL_FILE"):
        load_env_file(environ)
    assert "PROVISION_BROKER_URL" not in environ  # nothing loaded


def run(argv: list[str], env_file_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVISION_")}
    env |= {"PROVISION_ENV_FILE": str(env_file_path), "PYTHONPATH": str(ROOT)}
    env["PROVISION_BROKER_URL"] = "amqp://guest:guest@127.0.0.1:5672/%2F"  # overridden
    return subprocess.run(
        [sys.executable, *argv], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_both_command_lines_run_as_the_file_s_role(tmp_path: Path) -> None:
    """The broker URL a worker and the aggregator fail on is the file's (unreachable on
    purpose): they loaded it before anything read a URL, the worker's Celery app too."""
    public = tmp_path / "controller.pub"
    public.write_text(public_pem(new_private_key()))
    path = env_file(tmp_path, f"PROVISION_BROKER_URL={BROKER}\nPROVISION_REDIS_URL={REDIS}\n")
    worker = ["-m", "workers", "worker", "--region", "eu", "--allow", f"local://{tmp_path}/*"]
    for argv in (
        [*worker, "--controller-public-key", str(public)],
        ["-m", "producers", "broker", "declare"],
    ):
        done = run(argv, path)
        assert done.returncode == 3, done.stderr
        assert "RabbitMQ unreachable at amqp://provision-worker-eu:***@127.0.0.1:1/" in done.stderr
        assert SECRET not in done.stdout + done.stderr
    path.chmod(0o644)
    for argv in (worker, ["-m", "producers", "broker", "declare"]):
        done = run(argv, path)
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith(f"error: PROVISION_ENV_FILE={path}: mode 0644"), done.stderr
