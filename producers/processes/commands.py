"""The one place our processes' command lines are spelled: demo, bench and tests start them here.

The worker's flags are `provision worker`'s (workers/cli.py); producers may not import workers,
so this module is their one writer, and a test checks `--help` lists every flag used here.
Each function returns the arguments after the interpreter: `[sys.executable, *argv]` runs it.
"""

from __future__ import annotations

from pathlib import Path


def worker_argv(
    region: str,
    *,
    allow: str | list[str] | tuple[str, ...] = (),
    concurrency: int = 2,
    name: str | None = None,
    loglevel: str | None = None,
    pool: str | None = None,
    rate_limit: str | None = None,
    metrics_port: int | None = None,
    controller_public_key: str | None = None,
    max_tasks_per_child: int | None = None,
) -> list[str]:
    """A regional worker, as `provision worker` runs it.

    `allow` is its `--allow` patterns: the target addresses it may converge (one pattern or
    several). Without one, the worker refuses to start unless PROVISION_WORKER_ALLOW is set.
    `metrics_port`: serve its Prometheus metrics there (`--metrics-port`).
    `controller_public_key` is the path of the controller's public key
    (`--controller-public-key`); without it the worker refuses to start unless
    PROVISION_CONTROLLER_PUBLIC_KEY is set.
    """
    argv = ["-m", "workers", "worker", "--region", region, "--concurrency", str(concurrency)]
    for pattern in [allow] if isinstance(allow, str) else allow:
        argv += ["--allow", pattern]
    for flag, value in (
        ("--name", name),
        ("--loglevel", loglevel),
        ("--pool", pool),
        ("--rate-limit", rate_limit),
        ("--metrics-port", None if metrics_port is None else str(metrics_port)),
        ("--controller-public-key", controller_public_key),
        (
            "--max-tasks-per-child",
            None if max_tasks_per_child is None else str(max_tasks_per_child),
        ),
    ):
        if value is not None:
            argv += [flag, value]
    return argv


def provision_argv(*args: str) -> list[str]:
    """Any control-plane command, as `provision ARGS...` runs it."""
    return ["-m", "producers", *args]


def aggregator_argv(*, metrics_port: int | None = None) -> list[str]:
    """The aggregator: outcomes from provision.results into the ledger."""
    return provision_argv("aggregator", *_metrics(metrics_port))


def controller_argv(
    *,
    checkin_rate: float | None = None,
    checkin_burst: int | None = None,
    metrics_port: int | None = None,
    controller_key: str | None = None,
) -> list[str]:
    """The controller: change events, rollouts and pull check-ins. `controller_key` is the
    path of the key it signs with (`--controller-key`; else PROVISION_CONTROLLER_KEY)."""
    argv = provision_argv("controller", *_metrics(metrics_port))
    if controller_key is not None:
        argv += ["--controller-key", controller_key]
    if checkin_rate is not None:
        argv += ["--checkin-rate", f"{checkin_rate:g}"]
    if checkin_burst is not None:
        argv += ["--checkin-burst", str(checkin_burst)]
    return argv


def _metrics(port: int | None) -> list[str]:
    """`--metrics-port PORT` when a port is given (the metrics endpoint is off without)."""
    return [] if port is None else ["--metrics-port", str(port)]


def signing_env(key_path: str | Path) -> dict[str, str]:
    """The environment that makes our processes (`provision apply`, the demo, the bench's
    emitters) sign change events with the operator's key at `key_path`."""
    return {"PROVISION_SIGNING_KEY": str(key_path)}


def dashboard_argv(
    *, host: str = "127.0.0.1", port: int = 8642, operator_credentials: str | None = None
) -> list[str]:
    """The web dashboard (`provision dashboard`); read-only without operator credentials."""
    argv = provision_argv("dashboard", "--host", host, "--port", str(port))
    if operator_credentials is not None:
        argv += ["--operator-credentials", operator_credentials]
    return argv
