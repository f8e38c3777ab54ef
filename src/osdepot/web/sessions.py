"""POST/DELETE /sessions and GET /aicc."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from osdepot import __version__
from osdepot.errors import error
from osdepot.messages import Messages
from osdepot.services.repository import Repository
from osdepot.web.common import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    auth_of,
    authenticate,
    client_address,
    ctx_of,
    envelope,
    iso,
    json_body,
)


async def login(request: Request) -> Response:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise error(
            Messages.INVALID_VALUE,
            name="request body",
            detail='The body must be {"UserId": "...", "password": "..."}.',
        )
    name, password = body.get("UserId"), body.get("password")
    if not isinstance(name, str) or not isinstance(password, str) or not name:
        raise error(
            Messages.INVALID_VALUE,
            name="UserId/password",
            detail='The body must be {"UserId": "...", "password": "..."}.',
        )
    address = client_address(request)
    token, session = await auth_of(request).open_session(name, password, address)
    resp = JSONResponse(
        {
            "result": "success",
            "messages": [],
            "response": {
                "pwChangeRequired": False,
                "session": {
                    "Address": address,
                    "authenticationServer": "local",
                    "created": iso(session.created_at),
                    "UserId": session.user_name,
                },
            },
        },
        status_code=200,
    )
    secure = request.url.scheme == "https"
    resp.set_cookie(
        SESSION_COOKIE, token, httponly=True, secure=secure, samesite="strict", path="/"
    )
    resp.set_cookie(
        CSRF_COOKIE, session.csrf, httponly=False, secure=secure, samesite="strict", path="/"
    )
    return resp


async def logout(request: Request) -> Response:
    await authenticate(request)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await ctx_of(request).run(auth_of(request).logout, token)
    resp = envelope()
    resp.delete_cookie(SESSION_COOKIE, path="/")
    resp.delete_cookie(CSRF_COOKIE, path="/")
    return resp


async def aicc(request: Request) -> Response:
    """LXCA's appliance information, and (osdepot's additions) the signed-in user and
    the repository's storage, for the web UI's header and repository page."""
    user = await authenticate(request)
    storage = await Repository(ctx_of(request)).storage()
    return JSONResponse(
        {
            "appliance": {"name": "osdepot", "version": __version__},
            "user": {"name": user.name, "role": user.role},
            "storage": {
                "files": storage.files,
                "images": storage.images,
                "usedBytes": storage.used_bytes,
                "reservedBytes": storage.reserved_bytes,
                "freeBytes": storage.free_bytes,
            },
        }
    )
