"""The operator role: who may replay dead letters from the dashboard, and how that is proven.

The dashboard is read-only unless it was started with `--operator-credentials FILE`: the
file holds the broker URL of the user replays publish as (what `provision access apply`
writes into `DIR/<user>.url`; 0600, refused when group or others may read it). Even then,
a page served to anyone cannot replay anything:

* an action is a POST only (a link, an image or a redirect cannot make one);
* the browser must first sign in with that user's password, which sets a cookie holding a
  random session token made at this start (HttpOnly, SameSite=Strict, and Secure when
  served over HTTPS): a restart signs everyone out, and no other site's page can send it;
* each form carries a second token derived from the session, which only pages served to
  the signed-in browser contain (a page served to anyone else has no form and no token);
* the request's Origin must be this dashboard's own (a cross-site form is refused even
  before any token is looked at), and the Host header must name the address it serves on
  when bound to loopback (a DNS-rebinding page is refused).

Failed sign-ins are throttled; the password is compared in constant time and never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from starlette.requests import Request

from broker_config.endpoints import redact
from contracts import ExitCode, ProvisioningError
from contracts.private_files import PrivateFileError, read_private

#: The cookie holding the session token.
COOKIE = "provision_operator"
#: A credentials file is one URL: anything longer is not one.
CREDENTIALS_BYTES = 4096
#: Failed sign-ins allowed per window before sign-in is refused for the rest of it.
FAILED_SIGN_INS = 5
SIGN_IN_WINDOW_S = 60.0


class CredentialsError(ProvisioningError):
    """The operator's credentials file is missing, unsafe or not a broker URL."""

    exit_code = ExitCode.INPUT


@dataclass(frozen=True)
class OperatorCredentials:
    """The operator's broker user: replays publish as it; its password signs in."""

    broker_url: str
    user: str
    password: str

    def __repr__(self) -> str:  # never the password, not even in a traceback
        return f"OperatorCredentials({redact(self.broker_url)!r})"


def read_credentials(path: Path) -> OperatorCredentials:
    """Read and check a credentials file; CredentialsError names the file and the reason.

    The file is read as contracts.private_files reads every secret: a regular file of at
    most CREDENTIALS_BYTES that group and others may not use, opened once."""
    where = f"--operator-credentials {path}"
    try:
        raw = read_private(path, CREDENTIALS_BYTES)
    except PrivateFileError as exc:
        raise CredentialsError(f"{where}: {_refusal(exc)}") from None
    # as Path.read_text read it: undecodable bytes replaced, universal newlines
    text = raw.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    text = text.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("amqp", "amqps") or not parts.hostname:
        raise CredentialsError(f"{where}: not an amqp:// or amqps:// URL")
    if not parts.username or not parts.password:
        raise CredentialsError(f"{where}: the URL names no user and password")
    return OperatorCredentials(text, unquote(parts.username), unquote(parts.password))


def _refusal(exc: PrivateFileError) -> str:
    """A refused credentials file in this module's own words."""
    if exc.problem in ("open", "read"):
        return exc.detail or exc.reason
    if exc.problem == "too-large":
        return f"over {CREDENTIALS_BYTES} bytes: not a broker URL"
    return exc.reason


def same_origin(request: Request) -> bool:
    """True when the browser says the request comes from a page of this very dashboard."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site != "same-origin":
        return False
    origin = request.headers.get("origin")
    if not origin:
        return False
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc == request.headers.get("host")


class OperatorGate:
    """Decides, per request, whether it comes from the signed-in operator."""

    def __init__(self, credentials: OperatorCredentials | None) -> None:
        self.credentials = credentials
        #: Made at each start: signing in again is needed after a restart.
        self.session = secrets.token_urlsafe(32)
        self.form_token = hmac.new(
            self.session.encode(), b"provision-dashboard-form", hashlib.sha256
        ).hexdigest()
        self._failures: deque[float] = deque()

    @property
    def enabled(self) -> bool:
        return self.credentials is not None

    def signed_in(self, request: Request) -> bool:
        """The request carries this start's session cookie (and operator mode is on)."""
        cookie = request.cookies.get(COOKIE, "")
        return self.enabled and hmac.compare_digest(cookie.encode(), self.session.encode())

    def view(self, request: Request) -> dict[str, object]:
        """What a template may know: the form token only for the signed-in browser."""
        signed_in = self.signed_in(request)
        return {
            "enabled": self.enabled,
            "signed_in": signed_in,
            "token": self.form_token if signed_in else "",
        }

    def sign_in(self, password: str) -> str | None:
        """The session token for the right password; None otherwise (throttled)."""
        if self.credentials is None:
            return None
        now = time.monotonic()
        while self._failures and now - self._failures[0] > SIGN_IN_WINDOW_S:
            self._failures.popleft()
        if len(self._failures) >= FAILED_SIGN_INS:
            return None
        if hmac.compare_digest(password.encode(), self.credentials.password.encode()):
            return self.session
        self._failures.append(now)
        return None

    def refusal(self, request: Request, form_token: str) -> str | None:
        """Why this POST may not act as the operator; None when it may."""
        if not self.enabled:
            return "this dashboard is read-only (started without --operator-credentials)"
        if not same_origin(request):
            return "refused: the request does not come from this dashboard's own pages"
        if not self.signed_in(request):
            return "refused: sign in as the operator first"
        if not hmac.compare_digest(form_token.encode(), self.form_token.encode()):
            return "refused: the form's token is not this dashboard's (reload the page)"
        return None
