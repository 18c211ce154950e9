"""Which database: `PROVISION_DATABASE_URL`, and the same URL with its password hidden.

The default is the local database `provisioning` that `.ci/services` creates, with the
role and password it creates (a development default, like RabbitMQ's guest:guest).
"""

from __future__ import annotations

import os
import re
from urllib.parse import unquote

ENV = "PROVISION_DATABASE_URL"
DEFAULT_URL = "postgresql://provisioning:provisioning-local@127.0.0.1:5432/provisioning"
#: `scheme://user:password@` and `password=...` (a query parameter or a key=value DSN).
_USERINFO = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:@/?#]*):(?P<pw>[^/?#]*)@")
_PARAM = re.compile(r"(?P<key>\bpassword\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|[^&\s]*)", re.I)


def database_url(url: str | None = None) -> str:
    """The URL given, else `PROVISION_DATABASE_URL`, else the local default."""
    return url or os.environ.get(ENV) or DEFAULT_URL


def _passwords(url: str) -> set[str]:
    found = set()
    match = _USERINFO.match(url)
    if match and match.group("pw"):
        found.add(match.group("pw"))
    for param in _PARAM.finditer(url):
        found.add(param.group("pw").strip("'"))
    found |= {unquote(p) for p in found}
    return {p for p in found if p}


def redact(url: str) -> str:
    """The URL with every password replaced by `***`, fit for any message or log.

    Works on the text alone, so even a malformed URL (a bad port) is redacted.
    """
    url = _USERINFO.sub(lambda m: f"{m.group('head')}:***@", url, count=1)
    return _PARAM.sub(lambda m: f"{m.group('key')}***", url)


def scrub(text: str, url: str) -> str:
    """`text` (e.g. a driver's error message) with the URL's passwords taken out.

    Drivers may quote a fragment of a bad URL, so each password is hidden wherever it
    appears, as written in the URL and decoded.
    """
    text = text.replace(url, redact(url))
    for password in sorted(_passwords(url), key=len, reverse=True):
        text = text.replace(password, "***")
    return text
