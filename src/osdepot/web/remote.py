"""Remote file-server profiles (contract §5)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from osdepot.domain.roles import Privilege
from osdepot.services.remote_servers import RemoteServers, parse_server_id, server_json
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


async def create_server(request: Request) -> Response:
    await authenticate(request, Privilege.EDIT_REMOTE_SERVERS)
    body = await json_body(request)
    server = await RemoteServers(ctx_of(request)).save(body, None)
    return envelope(**server_json(server))


async def update_server(request: Request) -> Response:
    await authenticate(request, Privilege.EDIT_REMOTE_SERVERS)
    sid = parse_server_id(request.path_params["sid"])
    body = await json_body(request)
    server = await RemoteServers(ctx_of(request)).save(body, sid)
    return envelope(**server_json(server))


async def delete_server(request: Request) -> Response:
    await authenticate(request, Privilege.DELETE_REMOTE_SERVERS)
    sid = parse_server_id(request.path_params["sid"])
    await RemoteServers(ctx_of(request)).delete(sid)
    return envelope()
