"""Remote file-server profiles (contract §5)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from osdepot.domain.roles import Privilege
from osdepot.messages import Messages
from osdepot.services.remote_servers import RemoteServers, Saved, parse_server_id, server_json
from osdepot.web.common import authenticate, ctx_of, envelope, json_body


async def list_servers(request: Request) -> Response:
    await authenticate(request)
    servers = await RemoteServers(ctx_of(request)).list()
    return envelope(serverList=[server_json(s) for s in servers])


async def get_server(request: Request) -> Response:
    await authenticate(request)
    sid = parse_server_id(request.path_params["sid"])
    server = await RemoteServers(ctx_of(request)).get(sid)
    return envelope(**server_json(server))


def saved_answer(saved: Saved) -> Response:
    """The profile; when the change dropped stored secrets, ``droppedSecrets`` names
    them and an informational message says why."""
    if not saved.dropped:
        return envelope(**server_json(saved.server))
    body = {
        "result": "success",
        **server_json(saved.server),
        "droppedSecrets": saved.dropped,
        "messages": [Messages.SECRETS_DROPPED.render({"secrets": " and ".join(saved.dropped)})],
    }
    return JSONResponse(body)


async def create_server(request: Request) -> Response:
    await authenticate(request, Privilege.EDIT_REMOTE_SERVERS)
    body = await json_body(request)
    saved = await RemoteServers(ctx_of(request)).save(body, None)
    return saved_answer(saved)


async def update_server(request: Request) -> Response:
    await authenticate(request, Privilege.EDIT_REMOTE_SERVERS)
    sid = parse_server_id(request.path_params["sid"])
    body = await json_body(request)
    saved = await RemoteServers(ctx_of(request)).save(body, sid)
    return saved_answer(saved)


async def delete_server(request: Request) -> Response:
    await authenticate(request, Privilege.DELETE_REMOTE_SERVERS)
    sid = parse_server_id(request.path_params["sid"])
    await RemoteServers(ctx_of(request)).delete(sid)
    return envelope()
