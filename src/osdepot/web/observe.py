"""Request logging and metrics (an ASGI middleware), ``/metrics`` and ``/healthz``."""

from __future__ import annotations

import logging
import os
import shutil
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from osdepot import __version__, metrics
from osdepot.web.common import SESSION_COOKIE, authenticate, ctx_of

log = logging.getLogger("osdepot.request")

#: The methods a metric names; any other is counted as "other". A method is any token
#: the client sends (llhttp takes some 40, another ASGI server any), and each label
#: value is a series the process keeps for ever.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Observe:
    """One log line and two metric updates per HTTP request.

    The line carries method, path, status, duration, the authenticated user (if any)
    and the client address; never headers or bodies, so no password or session token
    can reach the log.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # when the application fails before answering

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            elapsed = time.perf_counter() - start
            method = str(scope.get("method", ""))
            label = method if method in _METHODS else "other"
            metrics.REQUESTS.labels(label, str(status)).inc()
            metrics.REQUEST_DURATION.labels(label).observe(elapsed)
            user = scope.get("state", {}).get("user")
            name = getattr(user, "name", "") or "-"
            client = scope.get("client")
            path = str(scope.get("path", ""))
            log.info(
                "%s %s %d %.1f ms %s",
                method,
                path,
                status,
                elapsed * 1000,
                name,
                extra={
                    "event": "request",
                    "method": method,
                    "path": path,
                    "status": status,
                    "ms": round(elapsed * 1000, 2),
                    "user": name,
                    "client": client[0] if client else "",
                },
            )


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus text exposition, to any logged-in user (Basic credentials suit a
    scraper); without a login only with ``OSDEPOT_METRICS_PUBLIC``."""
    ctx = ctx_of(request)
    if not ctx.settings.metrics_public:
        await authenticate(request)
    body = await ctx.run(metrics.render, ctx.catalog)
    return Response(body, media_type=metrics.CONTENT_TYPE)


async def healthz(request: Request) -> Response:
    """200 when the catalog answers and the data folder is writable; 503 otherwise.
    No authentication (load balancers call it), so it says only ``ok`` or ``failed``;
    the version and the checks (with free space) go to logged-in users."""
    ctx = ctx_of(request)
    checks: dict[str, Any] = {}
    ok = True
    try:
        await ctx.run(ctx.catalog.generation)
        checks["catalog"] = "ok"
    except Exception as exc:  # the point is to report it, whatever it is
        ok = False
        checks["catalog"] = f"failed: {type(exc).__name__}"
    try:
        usage = await ctx.run(shutil.disk_usage, ctx.settings.data_dir)
        writable = os.access(ctx.settings.data_dir, os.W_OK)
        ok = ok and writable
        checks["dataDir"] = "ok" if writable else "failed: not writable"
        checks["freeBytes"] = usage.free
    except OSError as exc:
        ok = False
        checks["dataDir"] = f"failed: {exc.strerror or type(exc).__name__}"
    body: dict[str, Any] = {"status": "ok" if ok else "failed"}
    if "authorization" in request.headers or SESSION_COOKIE in request.cookies:
        await authenticate(request)
        body.update(version=__version__, checks=checks)
    return JSONResponse(body, status_code=200 if ok else 503, headers={"Cache-Control": "no-store"})
