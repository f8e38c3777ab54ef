"""What every route shares: the envelope, authentication, JSON bodies, timestamps."""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse

from osdepot import metrics
from osdepot.domain.records import User
from osdepot.domain.roles import Privilege
from osdepot.domain.text import decimal, strict_json
from osdepot.errors import OsdepotError, error
from osdepot.messages import Messages
from osdepot.services.auth import Auth, require, token_hash
from osdepot.services.context import Context

SESSION_COOKIE = "_sessionId"
CSRF_COOKIE = "csrf"
STATE_CHANGING = frozenset({"POST", "PUT", "DELETE", "PATCH"})


def envelope(status: int = 200, /, **extra: Any) -> JSONResponse:
    """A success answer: ``{"result": "success", ...extra, "messages": []}``."""
    body: dict[str, Any] = {"result": "success", **extra, "messages": []}
    return JSONResponse(body, status_code=status)


#: The challenge of a 401 to a client that did not send Basic credentials: a scheme no
#: browser acts on, so that a browser never opens its own password dialog (and never
#: remembers credentials that a cross-site page could then make it send).
SESSION_CHALLENGE = 'Session realm="osdepot", login="/sessions"'
BASIC_CHALLENGE = 'Basic realm="osdepot"'


def error_response(exc: OsdepotError, challenge: str = SESSION_CHALLENGE) -> JSONResponse:
    """The one place an error becomes an HTTP response. A 401 carries ``challenge`` (a
    Basic challenge only for clients that sent Basic credentials: see app.py); any
    headers the error carries (``Retry-After``, ``Connection: close``) go with it."""
    headers = dict(exc.headers)
    if exc.status == 401:
        headers["WWW-Authenticate"] = challenge
    return failed(exc.status, exc.render(), headers or None)


#: What a URL path keeps unencoded besides letters, digits and ``-._`` (RFC 3986's
#: sub-delims, ``:`` and ``@``; ``~`` is unreserved).
_PATH_SAFE = "!$&'()*+,;=:@~"


def url_path(text: str, *, slashes: bool = False) -> str:
    """``text`` percent-encoded for a URL path (a segment unless ``slashes``): file ids
    and folder names are any Unicode, and a header value such as ``Location`` holds
    bytes of ISO-8859-1 at most."""
    return quote(text, safe=_PATH_SAFE + ("/" if slashes else ""))


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


def client_address(request: Request) -> str:
    """The client's address: the peer's, or the one a trusted proxy names
    (``OSDEPOT_FORWARDED_ALLOW_IPS``, applied by the server)."""
    return request.client.host if request.client else ""


async def authenticate(request: Request, privilege: Privilege | None = None) -> User:
    """The user behind a request: HTTP Basic credentials (no CSRF check), or a session
    cookie (with the X-Csrf-Token check on state-changing methods). 401/403 otherwise."""
    ctx, auth = ctx_of(request), auth_of(request)
    header = request.headers.get("authorization", "")
    if header[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise error(Messages.AUTH_REQUIRED) from None
        name, sep, password = decoded.partition(":")
        if not sep:
            raise error(Messages.AUTH_REQUIRED)
        user = await auth.basic_user(name, password, client_address(request))
    else:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            raise error(Messages.AUTH_REQUIRED)
        csrf, changing = request.headers.get("x-csrf-token"), request.method in STATE_CHANGING
        th = token_hash(token)
        session = await ctx.read(lambda c: c.get_session(th))
        cached = auth.cached_session_user(session, csrf, changing)
        if cached is None:
            cached = await ctx.run(auth.session_user, token, csrf, changing)
        user = cached
    require(user, privilege)
    request.state.user = user
    return user


#: The largest JSON body any route reads (uploads stream their files and are not JSON).
MAX_JSON_BYTES = 1024 * 1024


def too_large(what: str, limit: int) -> OsdepotError:
    """413 for a body over ``limit``; the connection is closed after the answer, so the
    rest of the body is neither read nor kept."""
    exc = error(Messages.BODY_TOO_LARGE, what=what, limit=limit)
    exc.headers["Connection"] = "close"
    return exc


#: JSON bodies being read at once may hold at most this many bytes in one process (each
#: counts its declared length, or the whole limit when it declares none); a body that
#: would go beyond is answered 503 at once. With the time limit on each body, many
#: slow clients cannot make the server hold more than this, nor for long.
JSON_BYTES_IN_FLIGHT = 16 * 1024 * 1024


class _InFlight:
    """Bytes of JSON bodies being read now in this process (event-loop thread only)."""

    held = 0


async def read_body(request: Request, limit: int, what: str) -> bytes:
    """The whole body, at most ``limit`` bytes: a declared ``Content-Length`` over it is
    refused before a byte is read, and a body without one stops being read past it
    (413). All bodies read at once hold at most :data:`JSON_BYTES_IN_FLIGHT` (503
    beyond), and each must arrive within ``OSDEPOT_JSON_BODY_TIMEOUT`` seconds (408)."""
    seconds = ctx_of(request).settings.json_body_timeout
    raw = request.headers.get("content-length")
    declared = None if raw is None else decimal(raw, 30)
    if raw is not None:
        if declared is None:
            raise error(
                Messages.INVALID_VALUE, name="Content-Length", detail="It must be a number."
            )
        if declared > limit:
            raise too_large(what, limit)
    share = declared if declared is not None else limit
    if _InFlight.held + share > JSON_BYTES_IN_FLIGHT:
        busy = error(Messages.BODIES_BUSY, limit=JSON_BYTES_IN_FLIGHT)
        busy.headers.update({"Retry-After": "1", "Connection": "close"})
        raise busy
    _InFlight.held += share
    data = bytearray()
    try:
        async with asyncio.timeout(seconds):
            async for chunk in request.stream():
                data += chunk
                if len(data) > limit:
                    raise too_large(what, limit)
    except TimeoutError:
        slow = error(Messages.BODY_TOO_SLOW, seconds=f"{seconds:g}")
        slow.headers["Connection"] = "close"
        raise slow from None
    finally:
        _InFlight.held -= share
    return bytes(data)


def is_json(content_type: str) -> bool:
    """``application/json`` (or ``application/<x>+json``), any parameters."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def json_body(request: Request, *, required: bool = True) -> Any:
    """The request body parsed as JSON: 413 over 1 MiB (refused before reading when
    the length is declared), 415 unless it is sent as ``application/json`` (a browser
    cannot send that cross-site without asking first), 400 if it is not JSON."""
    raw = await read_body(request, MAX_JSON_BYTES, "JSON request body")
    if not raw.strip():
        if required:
            raise error(
                Messages.INVALID_VALUE, name="request body", detail="The request needs a JSON body."
            )
        return {}
    ctype = request.headers.get("content-type", "")
    if not is_json(ctype):
        raise error(Messages.UNSUPPORTED_MEDIA_TYPE, expected="application/json", actual=ctype)
    try:
        return strict_json(raw)
    except (ValueError, UnicodeDecodeError) as exc:  # (NestedTooDeeply among them)
        why = f" ({exc})" if str(exc).endswith("is not a JSON value") else ""
        raise error(
            Messages.INVALID_VALUE,
            name="request body",
            detail=f"The request body is not valid JSON{why}.",
        ) from None
