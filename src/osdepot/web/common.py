"""What every route shares: the envelope, authentication, JSON bodies, timestamps."""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from osdepot import metrics
from osdepot.domain.records import User
from osdepot.domain.roles import Privilege
from osdepot.errors import M, OsdepotError, error
from osdepot.services.auth import Auth, require, token_hash
from osdepot.services.context import Context

SESSION_COOKIE = "_sessionId"
CSRF_COOKIE = "csrf"
STATE_CHANGING = frozenset({"POST", "PUT", "DELETE", "PATCH"})


def envelope(status: int = 200, /, **extra: Any) -> JSONResponse:
    """A success answer: ``{"result": "success", ...extra, "messages": []}``."""
    body: dict[str, Any] = {"result": "success", **extra, "messages": []}
    return JSONResponse(body, status_code=status)


def error_response(exc: OsdepotError, challenge: bool = True) -> JSONResponse:
    """The one place an error becomes an HTTP response. A 401 carries a Basic challenge
    unless ``challenge`` is false (the web UI's requests: a browser would otherwise
    open its own password dialog over the page's login form)."""
    basic = exc.status == 401 and challenge
    headers = {"WWW-Authenticate": 'Basic realm="osdepot"'} if basic else None
    return failed(exc.status, exc.render(), headers)


def failed(
    status: int, message: dict[str, Any], headers: dict[str, str] | None = None
) -> JSONResponse:
    """``{"result": "failed", "messages": [message]}``, counted by message id."""
    metrics.REQUEST_ERRORS.labels(str(message.get("id", "")), str(status)).inc()
    return JSONResponse(
        {"result": "failed", "messages": [message]}, status_code=status, headers=headers
    )


def iso(ts: float | None) -> str:
    if ts is None:
        return ""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def ctx_of(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


def auth_of(request: Request) -> Auth:
    a: Auth = request.app.state.auth
    return a


async def authenticate(request: Request, privilege: Privilege | None = None) -> User:
    """The user behind a request: HTTP Basic credentials (no CSRF check), or a session
    cookie (with the X-Csrf-Token check on state-changing methods). 401/403 otherwise."""
    ctx, auth = ctx_of(request), auth_of(request)
    header = request.headers.get("authorization", "")
    if header[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise error(M.AUTH_REQUIRED) from None
        name, sep, password = decoded.partition(":")
        if not sep:
            raise error(M.AUTH_REQUIRED)
        user = auth.quick_basic_user(name, password)
        if user is None:
            user = await ctx.run(auth.basic_user, name, password)
    else:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            raise error(M.AUTH_REQUIRED)
        csrf, changing = request.headers.get("x-csrf-token"), request.method in STATE_CHANGING
        th = token_hash(token)
        session = await ctx.read(lambda c: c.get_session(th))
        user = auth.quick_session_user(session, csrf, changing)
        if user is None:
            user = await ctx.run(auth.session_user, token, csrf, changing)
    require(user, privilege)
    request.state.user = user
    return user


async def json_body(request: Request, *, required: bool = True) -> Any:
    """The request body parsed as JSON (400 with a message if it is not JSON)."""
    raw = await request.body()
    if not raw.strip():
        if required:
            raise error(
                M.INVALID_VALUE, name="request body", detail="The request needs a JSON body."
            )
        return {}
    if len(raw) > 1024 * 1024:
        raise error(
            M.INVALID_VALUE, name="request body", detail="The JSON body is larger than 1 MiB."
        )
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise error(
            M.INVALID_VALUE, name="request body", detail="The request body is not valid JSON."
        ) from None
