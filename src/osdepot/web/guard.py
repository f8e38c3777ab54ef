"""Refuses requests that a browser sends on behalf of another site (an ASGI middleware).

A page of another site can make a browser send requests to osdepot carrying the
user's cookies (and remembered Basic credentials): forms post ``text/plain`` or
``application/x-www-form-urlencoded`` bodies, and ``fetch()`` sends more. JSON bodies
must be ``application/json`` (web/common.py), which a browser does not send
cross-site without CORS consent, and osdepot gives none; on top of that every request
a browser marks as coming from another site is refused here, whatever its
authentication:

* ``Sec-Fetch-Site: cross-site`` or ``same-site`` (another origin of the same site);
* an ``Origin`` that is not the origin the request was sent to (``null`` included).

Navigations (a link followed to the web UI: ``GET``/``HEAD`` with ``Sec-Fetch-Mode:
navigate``) stay allowed; they change nothing and carry no body. Clients that are not
browsers send neither header and are not affected.

The headers this judges by, ``Host`` (which also makes the URLs that links and
deployments give out), ``Authorization`` and ``Content-Type`` are read once: a request
that carries one of them twice is refused 400, as is an HTTP/1.1 request without
``Host`` (RFC 9112, 3.2). Read as a
mapping, the last of two ``Origin`` or ``Sec-Fetch-Site`` lines was judged while
Starlette, and the URLs built from ``Host``, read the first.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from osdepot.messages import Messages
from osdepot.web.common import failed

_DEFAULT_PORTS = {"http": 80, "https": 443}
_ALLOWED_SITES = frozenset({"", "same-origin", "none"})
#: Header fields a request may carry once at most: those judged here, and those whose
#: second line a proxy in front could read instead of the first (the credentials, the
#: body's type and multipart boundary).
_SINGLE = (
    b"host",
    b"origin",
    b"sec-fetch-site",
    b"sec-fetch-mode",
    b"authorization",
    b"content-type",
)


def ambiguous(scope: Scope) -> str | None:
    """Why the request's ``Host`` or site marks cannot be read as one value, or None."""
    names = [name for name, _ in scope.get("headers") or []]
    for single in _SINGLE:
        if names.count(single) > 1:
            return f"The request carries the {single.decode().title()} header field more than once."
    if b"host" not in names and scope.get("http_version") == "1.1":
        return "An HTTP/1.1 request must carry a Host header field."
    return None


def _origin(scheme: str, host: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of ``scheme://host``, default port filled in."""
    try:
        parts = urlsplit(f"{scheme}://{host}")
        port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    except ValueError:
        return None
    return (scheme.lower(), (parts.hostname or "").lower(), port)


def cross_site(scope: Scope) -> tuple[str, str] | None:
    """(origin, sec-fetch-site) when the request comes from another site, else None."""
    headers = dict(scope.get("headers") or [])
    site = headers.get(b"sec-fetch-site", b"").decode("latin-1").strip().lower()
    origin = headers.get(b"origin", b"").decode("latin-1").strip()
    if scope.get("method") in ("GET", "HEAD"):
        mode = headers.get(b"sec-fetch-mode", b"").decode("latin-1").strip().lower()
        if mode == "navigate":
            return None
    if site not in _ALLOWED_SITES:
        return (origin or "-", site)
    if origin:
        own = _origin(str(scope.get("scheme", "http")), headers.get(b"host", b"").decode("latin-1"))
        parts = urlsplit(origin) if origin != "null" else None
        theirs = _origin(parts.scheme, parts.netloc) if parts and parts.scheme else None
        if own is None or theirs is None or own != theirs:
            return (origin, site or "-")
    return None


class Guard:
    """403 ``FQXHMSE9007J`` for cross-site requests (module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            why = ambiguous(scope)
            if why is not None:
                message = Messages.INVALID_VALUE.render({"name": "request head", "detail": why})
                await failed(400, message)(scope, receive, send)
                return
            found = cross_site(scope)
            if found is not None:
                origin, site = found
                message = Messages.CROSS_SITE.render({"origin": origin[:200], "site": site[:40]})
                await failed(403, message)(scope, receive, send)
                return
        await self.app(scope, receive, send)
