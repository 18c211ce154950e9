"""The dashboard's web app: pages, the live stream, and the operator's one action (replay).

Routes (all GET unless said):
  /                      rollouts in progress or recently ended, failed targets by reason
                         (both live)
  /compliance            fleet compliance per environment and region (live)
  /dead-letters          provision.dead, events refused at intake, check-ins refused
  POST /dead-letters/replay   replay one dead letter: operator only (see `operator`)
  /audit                 the audit trail, newest first, and whether its hash chain is whole
  /trace/{change_id}     a change's timeline (`?target=T`: one target's); a unique prefix works
  /operator, POST /operator, POST /operator/sign-out   the operator's sign-in
  /events?section=NAME   server-sent events: a live section's fragment whenever it changes
  /static/...            the stylesheet and script (no CDN: the machine may be offline)
  /healthz               "ok"
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from broker_config import Endpoints
from contracts import ProvisioningError
from producers.dashboard import letters, pages, queries, streams
from producers.dashboard.guards import (
    HSTS,
    SECURITY_HEADERS,
    SecurityHeaders,
    allowed_hosts,
    read_form,
)
from producers.dashboard.operator import COOKIE, OperatorGate, same_origin
from producers.dashboard.tls import is_loopback
from producers.errors import AmbiguousChange, UnknownChange
from producers.records.failures import failed_by_reason
from producers.records.timeline import resolve_change_id, timeline
from producers.store.database import Database
from producers.store.errors import DatabaseUnreachable

#: Longest target id or dead-letter id taken from a query or a form.
ID_CHARS = 200
#: What a dead letter's id looks like (a task id, a correlation id, `sha256:<hex>`).
LETTER_ID = re.compile(r"[A-Za-z0-9:._-]{1,200}")


Handler = Callable[[Request], Awaitable[Response]]


def create_app(
    db: Database,
    endpoints: Endpoints,
    gate: OperatorGate,
    *,
    host: str = "127.0.0.1",
    tls: bool = False,
    tick_s: float = streams.TICK_S,
) -> Starlette:
    """The dashboard on `db` (records) and `endpoints` (the dead letters).

    `tls`: it is served over HTTPS, so the session cookie is Secure (never sent in clear)
    and, unless `host` is loopback, every response carries Strict-Transport-Security. On
    loopback it would pin https for `localhost` in the browser for a year, on every port, so
    the self-signed first try would break every other local http server the user runs.
    """
    snapshots = streams.Snapshots(
        lambda name: pages.section(name, db, failed_by_reason), tick_s=tick_s
    )

    def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("page", "")
        html = pages.render(name, operator=gate.view(request), **context)
        return HTMLResponse(html, status_code=status)

    def error(request: Request, status: int, message: str) -> HTMLResponse:
        return page(request, "error.html", status, title="Error", message=message)

    def guarded(handler: Handler) -> Handler:
        """A lost database or broker is a 503 page saying so, never a traceback."""

        @functools.wraps(handler)
        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except (DatabaseUnreachable, ProvisioningError) as exc:
                return error(request, 503, str(exc))

        return run

    async def rollouts_page(request: Request) -> Response:
        context = {
            **await run_in_threadpool(pages.section_context, "rollouts", db, failed_by_reason),
            **await run_in_threadpool(pages.section_context, "failures", db, failed_by_reason),
        }
        return page(request, "rollouts.html", title="Rollouts", page="rollouts", **context)

    async def compliance_page(request: Request) -> Response:
        context = await run_in_threadpool(pages.section_context, "compliance", db, failed_by_reason)
        return page(request, "compliance.html", title="Compliance", page="compliance", **context)

    async def dead_letters_page(request: Request) -> Response:
        found: list[Any] = []
        more, broker_error = False, None
        try:
            found, more = await run_in_threadpool(letters.browse, endpoints)
        except ProvisioningError as exc:
            broker_error = str(exc)
        replayed = request.query_params.get("replayed", "")[:ID_CHARS]
        if not LETTER_ID.fullmatch(replayed):  # a crafted link shows no notice
            replayed = ""
        return page(
            request,
            "dead_letters.html",
            title="Dead letters",
            page="dead-letters",
            letters=found,
            more=more,
            broker_error=broker_error,
            refused=await run_in_threadpool(queries.refused, db),
            notice=f"replayed dead letter {replayed}" if replayed else "",
        )

    async def replay(request: Request) -> Response:
        form = await read_form(request)
        refusal = gate.refusal(request, form.get("token", ""))
        if refusal is not None:
            return error(request, 403, refusal)
        assert gate.credentials is not None
        letter_id = form.get("id", "")[:ID_CHARS]
        done = await run_in_threadpool(
            letters.replay, endpoints, gate.credentials.broker_url, letter_id
        )
        if not done:
            return error(request, 404, f"no replayable dead letter {letter_id!r}")
        return RedirectResponse(f"/dead-letters?replayed={quote(done[0].id)}", status_code=303)

    async def audit_page(request: Request) -> Response:
        entries, broken = await run_in_threadpool(queries.audit_trail, db)
        return page(
            request, "audit.html", title="Audit trail", page="audit", entries=entries, broken=broken
        )

    async def trace_page(request: Request) -> Response:
        text = str(request.path_params["change_id"])[:ID_CHARS]
        target = request.query_params.get("target") or None
        if target is not None and len(target) > ID_CHARS:
            return error(request, 400, f"target: longer than {ID_CHARS} characters")
        try:
            change_id = await run_in_threadpool(resolve_change_id, db, text)
        except (UnknownChange, AmbiguousChange) as exc:
            return error(request, 404 if isinstance(exc, UnknownChange) else 400, str(exc))
        moments = await run_in_threadpool(functools.partial(timeline, db, change_id, target=target))
        title = f"Trace of {change_id[:8]}" + (f" on {target}" if target else "")
        return page(
            request, "trace.html", title=title, change_id=change_id, target=target, moments=moments
        )

    async def operator_page(request: Request) -> Response:
        if not gate.enabled:
            return error(request, 404, gate.refusal(request, "") or "read-only")
        return page(request, "operator.html", title="Operator", notice="")

    async def sign_in(request: Request) -> Response:
        form = await read_form(request)
        if not gate.enabled:
            return error(request, 404, gate.refusal(request, "") or "read-only")
        session = gate.sign_in(form.get("password", "")) if same_origin(request) else None
        if session is None:
            notice = "sign-in refused (wrong password, another site's form, or too many tries)"
            return page(request, "operator.html", 403, title="Operator", notice=notice)
        response = RedirectResponse("/dead-letters", status_code=303)
        response.set_cookie(COOKIE, session, httponly=True, samesite="strict", secure=tls, path="/")
        return response

    async def sign_out(request: Request) -> Response:
        form = await read_form(request)
        refusal = gate.refusal(request, form.get("token", ""))
        if refusal is not None:
            return error(request, 403, refusal)
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(COOKIE, path="/", secure=tls)
        return response

    async def events(request: Request) -> Response:
        names = request.query_params.getlist("section")
        unknown = [n for n in names if n not in pages.SECTIONS]
        if not names or unknown or len(names) > len(pages.SECTIONS):
            known = ", ".join(pages.SECTIONS)
            return PlainTextResponse(f"section: one or more of {known}", status_code=400)
        if snapshots.open_streams >= streams.MAX_STREAMS:
            return PlainTextResponse("too many live pages open", status_code=503)
        return StreamingResponse(
            streams.stream(snapshots, list(dict.fromkeys(names))),
            media_type="text/event-stream",
            headers={"X-Accel-Buffering": "no"},
        )

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    routes = [
        Route("/", guarded(rollouts_page)),
        Route("/compliance", guarded(compliance_page)),
        Route("/dead-letters", guarded(dead_letters_page)),
        Route("/dead-letters/replay", guarded(replay), methods=["POST"]),
        Route("/audit", guarded(audit_page)),
        Route("/trace/{change_id}", guarded(trace_page)),
        Route("/operator", operator_page),
        Route("/operator", sign_in, methods=["POST"]),
        Route("/operator/sign-out", sign_out, methods=["POST"]),
        Route("/events", events),
        Route("/healthz", healthz),
        Mount("/static", StaticFiles(directory=pages.TEMPLATES.parent / "static"), name="static"),
    ]
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(
                SecurityHeaders,
                headers=[*SECURITY_HEADERS, HSTS]
                if tls and not is_loopback(host)
                else SECURITY_HEADERS,
            ),
            Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(host)),
        ],
    )
