"""Request logging and metrics (an ASGI middleware), ``/metrics`` and ``/healthz``."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import shutil
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from osdepot import __version__, metrics
from osdepot.services.context import Context
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


#: How long ``/healthz`` waits for the blob store's answer, and for how long (seconds)
#: one answer is given again to the next calls.
STORE_CHECK_TIMEOUT = 5.0
STORE_CHECK_REUSE = 2.0


class StoreProbe:
    """The blob store's check for ``/healthz``: one at a time, its answer reused for a
    moment. ``/healthz`` needs no login, and an object store that does not answer
    (boto3 tries five times, ten seconds each to connect) must hold neither a thread
    per caller nor the caller beyond ``STORE_CHECK_TIMEOUT``."""

    def __init__(self) -> None:
        self._running: asyncio.Future[str] | None = None
        self._answer = "ok"
        self._at = -math.inf

    async def answer(self, ctx: Context) -> str:
        if self._running is not None and self._running.get_loop() is not asyncio.get_running_loop():
            self._running = None  # left by an event loop that has ended (an app served again)
        if self._running is None:
            if time.monotonic() - self._at < STORE_CHECK_REUSE:
                return self._answer
            self._running = asyncio.ensure_future(self._check(ctx))
        try:
            return await asyncio.wait_for(asyncio.shield(self._running), STORE_CHECK_TIMEOUT)
        except TimeoutError:
            return f"failed: no answer within {STORE_CHECK_TIMEOUT:g} s"

    async def _check(self, ctx: Context) -> str:
        try:
            await ctx.run(ctx.blobs.check)
            answer = "ok"
        except Exception as exc:  # the point is to report it, whatever it is
            answer = f"failed: {type(exc).__name__}"
        self._answer, self._at, self._running = answer, time.monotonic(), None
        return answer


async def healthz(request: Request) -> Response:
    """200 when the catalog answers, the data folder is writable and the blob store
    answers; 503 otherwise. No authentication (load balancers call it), so it says only
    ``ok`` or ``failed``; the version and the checks (with free space) go to logged-in
    users."""
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
    probe: StoreProbe = request.app.state.store_probe
    checks["blobStore"] = await probe.answer(ctx)
    ok = ok and checks["blobStore"] == "ok"
    body: dict[str, Any] = {"status": "ok" if ok else "failed"}
    if "authorization" in request.headers or SESSION_COOKIE in request.cookies:
        await authenticate(request)
        body.update(version=__version__, checks=checks)
    return JSONResponse(body, status_code=200 if ok else 503, headers={"Cache-Control": "no-store"})
