"""Readiness checks: evidence, gathered on the target before anything is applied."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from contracts.state import (
    CheckSpec,
    CommandCheck,
    HttpCheck,
    PathExistsCheck,
    TcpPortCheck,
    UptimeCheck,
)
from workers.engine.hosts import Host, PathError, ended


def evaluate(target: Host, checks: Sequence[CheckSpec]) -> list[str]:
    """Run every check; return one line of evidence per failed check (empty: ready).

    Checks only read: a path's existence, a connection, a command's exit code, an HTTP
    status, the uptime. They never raise for a failed check.
    """
    failures = []
    for index, check in enumerate(checks):
        seen = CHECKS[check.kind](target, check)
        if seen is not None:
            failures.append(f"checks.{index} ({check.kind}): {seen}")
    return failures


def path_exists(target: Host, check: PathExistsCheck) -> str | None:
    """Ready when the path exists (a link is followed inside the root, like every path)."""
    try:
        seen = target.lstat(check.path)
    except (FileNotFoundError, PathError):
        seen = None
    return None if seen is not None else f"{check.path} does not exist"


def tcp_port(target: Host, check: TcpPortCheck) -> str | None:
    """Ready when a TCP connection to host:port (the target's own host) succeeds in time."""
    import socket

    if not own_host(check.host):
        return f"{check.host}: only the target's own host (loopback) may be checked"
    try:
        with socket.create_connection((check.host, check.port), timeout=check.timeout_s):
            return None
    except OSError as exc:
        return f"{check.host}:{check.port} refused a connection: {exc.strerror or exc}"


def command(target: Host, check: CommandCheck) -> str | None:
    """Ready when the command exits 0 (run in the root, no shell unless shell: true).

    Only how it ended is reported, never what it printed.
    """
    argv = ("/bin/sh", "-c", check.argv[0]) if check.shell else check.argv
    try:
        result = target.run(argv, cwd="/", timeout_s=check.timeout_s)
    except OSError as exc:
        return f"{check.argv[0]} could not start: {exc.strerror or exc}"
    return None if result.ok else f"{' '.join(check.argv)} {ended(result)}"


def http(target: Host, check: HttpCheck) -> str | None:
    """Ready when the URL, on the target's own host, answers 2xx (redirects not followed)."""
    import urllib.error
    import urllib.request
    from urllib.parse import urlsplit

    host = urlsplit(check.url).hostname or ""
    if not own_host(host):
        return f"{check.url}: only the target's own host (loopback) may be checked"
    opener = urllib.request.build_opener(_NoRedirects)
    try:
        with opener.open(check.url, timeout=check.timeout_s) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (OSError, ValueError) as exc:
        return f"{check.url} did not answer: {getattr(exc, 'reason', exc)}"
    return None if 200 <= status < 300 else f"{check.url} answered {status}"


def own_host(host: str) -> bool:
    """True when every address `host` names is a loopback address (the local target's host).

    Readiness checks run from the worker; they must not become a way to probe other hosts.
    """
    import ipaddress
    import socket

    try:
        infos = socket.getaddrinfo(host, None)
    except (OSError, UnicodeError):
        return False
    return bool(infos) and all(
        ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos
    )


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer (3xx), never a request to another host."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def uptime(target: Host, check: UptimeCheck) -> str | None:
    """Ready when the machine has been up at least `min_s` seconds."""
    up_s = time.clock_gettime(time.CLOCK_BOOTTIME)
    return None if up_s >= check.min_s else f"up {up_s:.0f}s, below the minimum {check.min_s:.0f}s"


#: Every readiness check, by kind. One line per kind.
CHECKS: dict[str, Callable[[Host, Any], str | None]] = {
    "path_exists": path_exists,
    "tcp_port": tcp_port,
    "command": command,
    "http": http,
    "uptime": uptime,
}
