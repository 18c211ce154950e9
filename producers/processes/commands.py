"""The one place our processes' command lines are spelled: demo, bench and tests start them here.

The worker's flags are `provision worker`'s (workers/cli.py); producers may not import workers,
so this module is their one writer, and a test checks `--help` lists every flag used here.
Each function returns the arguments after the interpreter: `[sys.executable, *argv]` runs it.
"""

from __future__ import annotations


def worker_argv(
    region: str,
    *,
    allow: str | list[str] | tuple[str, ...] = (),
    concurrency: int = 2,
    name: str | None = None,
    loglevel: str | None = None,
    pool: str | None = None,
    rate_limit: str | None = None,
    controller_public_key: str | None = None,
) -> list[str]:
    """A regional worker, as `provision worker` runs it.

    `allow` is its `--allow` patterns: the target addresses it may converge (one pattern or
    several). Without one, the worker refuses to start unless PROVISION_WORKER_ALLOW is set.
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
        ("--controller-public-key", controller_public_key),
    ):
        if value is not None:
            argv += [flag, value]
    return argv


def provision_argv(*args: str) -> list[str]:
    """Any control-plane command, as `provision ARGS...` runs it."""
    return ["-m", "producers", *args]


def aggregator_argv() -> list[str]:
    """The aggregator: outcomes from provision.results into the ledger."""
    return provision_argv("aggregator")


def controller_argv(
    *,
    checkin_rate: float | None = None,
    checkin_burst: int | None = None,
    controller_key: str | None = None,
) -> list[str]:
    """The controller: change events, rollouts and pull check-ins. `controller_key` is the
    path of the key it signs with (`--controller-key`; else PROVISION_CONTROLLER_KEY)."""
    argv = provision_argv("controller")
    if controller_key is not None:
        argv += ["--controller-key", controller_key]
    if checkin_rate is not None:
        argv += ["--checkin-rate", f"{checkin_rate:g}"]
    if checkin_burst is not None:
        argv += ["--checkin-burst", str(checkin_burst)]
    return argv
