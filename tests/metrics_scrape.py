"""Scraping a metrics endpoint in tests: free ports, one scrape, samples by name and labels."""

from __future__ import annotations

import socket
import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families


def free_port() -> int:
    """A TCP port nothing listens on now (the kernel's pick)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Scrape:
    """One scrape of http://127.0.0.1:PORT/metrics: families and their samples."""

    def __init__(self, port: int) -> None:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            self.text = reply.read().decode()
        self.families = {f.name: f for f in text_string_to_metric_families(self.text)}

    def has(self, name: str) -> bool:
        """True if the endpoint declares the metric, by its exposed name (a counter's
        family is named without `_total`)."""
        return name in self.families or name.removesuffix("_total") in self.families

    def value(self, sample: str, **labels: str) -> float | None:
        """The sum of `sample` over the series with these labels (whatever their other
        labels), None if there is none."""
        found = [
            s.value
            for family in self.families.values()
            for s in family.samples
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())
        ]
        return sum(found) if found else None

    def values(self, sample: str, label: str) -> dict[str, float]:
        """`sample`'s values keyed by one label's value."""
        result: dict[str, float] = {}
        for family in self.families.values():
            for s in family.samples:
                if s.name == sample:
                    key = s.labels.get(label, "")
                    result[key] = result.get(key, 0.0) + s.value
        return result


def scrape_or_none(port: int) -> Any:
    """A Scrape, or None while the endpoint does not answer yet."""
    try:
        return Scrape(port)
    except OSError:
        return None
