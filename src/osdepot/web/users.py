"""GET /userAccounts and PUT /userAccounts/{name}: accounts and their login locks,
for supervisors (an osdepot extension; user management itself is `osdepot users`)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from osdepot.domain.records import User
from osdepot.domain.roles import SUPERVISOR
from osdepot.errors import error
from osdepot.messages import Messages
from osdepot.web.common import auth_of, authenticate, ctx_of, envelope, iso, json_body


async def _supervisor(request: Request) -> User:
    user = await authenticate(request)
    if user.role != SUPERVISOR:
        raise error(Messages.FORBIDDEN, user=user.name, privilege=SUPERVISOR, role=user.role)
    return user


def account_json(u: User, now: float) -> dict[str, Any]:
    locked = bool(u.locked_until and u.locked_until > now)
    return {
        "userName": u.name,
        "role": u.role,
        "accountLocked": locked,
        "lockedUntil": iso(u.locked_until) if locked else "",
        "failedLogins": u.failed_logins,
        "created": iso(u.created_at),
    }


async def list_accounts(request: Request) -> Response:
    await _supervisor(request)
    ctx = ctx_of(request)
    users = await ctx.run(ctx.catalog.list_users)
    now = ctx.clock()
    return JSONResponse(
        {"result": "success", "response": [account_json(u, now) for u in users], "messages": []}
    )


async def update_account(request: Request) -> Response:
    """``{"unlock": true}`` lifts a login lock and clears the failure count."""
    await _supervisor(request)
    ctx = ctx_of(request)
    name = str(request.path_params["name"])
    body = await json_body(request)
    if not isinstance(body, dict) or body.get("unlock") not in (True, "true"):
        raise error(
            Messages.INVALID_VALUE,
            name="request body",
            detail='The only change supported is {"unlock": true}.',
        )
    await ctx.run(auth_of(request).unlock, name)
    user = await ctx.run(ctx.catalog.get_user, name)
    if user is None:  # deleted (osdepot users delete) right after it was unlocked
        raise error(Messages.NOT_FOUND, what="User", name=name, detail="It was deleted just now.")
    return envelope(200, response=account_json(user, ctx.clock()))
