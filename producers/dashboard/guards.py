"""What every request to the dashboard goes through: security headers on each response,
the Host names it answers to, and small url-encoded forms read within a bound."""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: A form larger than this is not ours.
FORM_BYTES = 4096
#: Sent with every response: no inline script runs even if escaping ever failed, and no
#: other site may frame the dashboard.
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self';"
        b" object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]
#: Sent as well when the dashboard serves HTTPS: for a year the browser goes to https://
#: by itself, even from an http:// link, so the sign-in never falls back to clear text.
HSTS = (b"strict-transport-security", b"max-age=31536000")


class SecurityHeaders:
    """Adds `headers` (SECURITY_HEADERS unless told) to every response (a plain ASGI
    wrapper: streams untouched)."""

    def __init__(self, app: ASGIApp, headers: list[tuple[bytes, bytes]] = SECURITY_HEADERS) -> None:
        self.app = app
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.headers]
            await send(message)

        await self.app(scope, receive, with_headers)


def allowed_hosts(host: str) -> list[str]:
    """Host header names accepted: the loopback names when bound to loopback, the bound
    address itself otherwise, anything when bound to every interface."""
    if host in ("0.0.0.0", "::", ""):
        return ["*"]
    if host in ("127.0.0.1", "localhost", "::1"):
        return ["127.0.0.1", "localhost", "[::1]", "::1"]
    return [host]


async def read_form(request: Request) -> dict[str, str]:
    """A small url-encoded form (first value of each field); bigger bodies are refused."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_BYTES:
            return {}
    fields = parse_qs(body.decode("utf-8", errors="replace"), max_num_fields=8)
    return {key: values[0][:FORM_BYTES] for key, values in fields.items() if values}
