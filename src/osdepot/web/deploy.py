"""Servers to deploy to and the settings of deployments: LXCA's ``/hostPlatforms``
(listing), ``/osdeployment/globalSettings`` and ``/osdeployment/hostSettings``, and
osdepot's own ``/bmcs`` (registering the Redfish BMCs those servers come from)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from osdepot.domain.records import Host
from osdepot.domain.roles import Privilege, has_privilege
from osdepot.errors import error
from osdepot.messages import Messages
from osdepot.services.deploy import INSTALL_VIEW, Deployments
from osdepot.services.deploy_settings import DeploySettings, global_json
from osdepot.services.hosts import (
    Hosts,
    Registered,
    bmc_json,
    deploy_status_json,
    parse_bmc_id,
    settings_json,
)
from osdepot.services.repository import Repository
from osdepot.web.common import authenticate, ctx_of, envelope, json_body
from osdepot.web.downloads import send
from osdepot.web.ranges import BadRange, parse_range


def _deployment_answer(status: int = 200, /, **extra: Any) -> JSONResponse:
    """The deployment endpoints' success envelope: LXCA writes ``Success`` there."""
    return JSONResponse({"result": "Success", **extra, "messages": []}, status_code=status)


def host_json(h: Host, images: list[str], bmc_url: str) -> dict[str, Any]:
    """A host platform: the system as its BMC described it, the profiles it may take,
    its deployment state and settings."""
    status = deploy_status_json(h)
    return {
        "uuid": h.uuid,
        "name": h.name,
        "manufacturer": h.manufacturer,
        "machineType": h.model,
        "model": h.model,
        "serialNumber": h.serial,
        "macAddresses": list(h.macs),
        "powerState": h.power_state,
        "virtualMediaCD": h.virtual_cd,
        "bmc": {"id": str(h.bmc_id), "url": bmc_url},
        "redfishSystem": h.system_path,
        "refreshedAt": h.refreshed_at,
        "availableImages": [{"label": i, "selected": False, "value": i} for i in images],
        "deployStatus": status,
        "deployStatusID": status["id"],
        "networkSettings": h.network or {},
        "storageSettings": h.storage or {},
    }


async def _images(request: Request) -> list[str]:
    """The profiles a host may take: every profile of the repository."""
    images = await Repository(ctx_of(request)).profiles(None)
    return [p.id for i in images for p in i.profiles]


async def list_platforms(request: Request) -> Response:
    user = await authenticate(request)
    hosts = Hosts(ctx_of(request))
    images = await _images(request)
    urls = {b.id: b.url for b in await hosts.bmcs()}
    return JSONResponse(
        {
            "result": "success",
            "availableImages": images,
            "imagesWithoutWinPERemoved": False,
            "incompatibleImagesRemoved": False,
            "isAuthorized": has_privilege(user.role, Privilege.DEPLOY),
            "items": [host_json(h, images, urls.get(h.bmc_id, "")) for h in await hosts.hosts()],
            "messages": [],
        }
    )


async def get_platform(request: Request) -> Response:
    await authenticate(request)
    hosts = Hosts(ctx_of(request))
    host = await hosts.host(request.path_params["uuid"])
    bmc = await hosts.bmc(host.bmc_id)
    return envelope(**host_json(host, await _images(request), bmc.url))


# -- global settings ------------------------------------------------------------------


async def get_global_settings(request: Request) -> Response:
    await authenticate(request)
    doc = await DeploySettings(ctx_of(request)).stored()
    return envelope(**global_json(doc))


async def put_global_settings(request: Request) -> Response:
    user = await authenticate(request, Privilege.EDIT_GLOBAL_SETTINGS)
    body = await json_body(request)
    doc = await DeploySettings(ctx_of(request)).put(body, user.name)
    return envelope(**global_json(doc))


# -- host settings --------------------------------------------------------------------


async def list_host_settings(request: Request) -> Response:
    await authenticate(request)
    hosts = await Hosts(ctx_of(request)).hosts()
    return _deployment_answer(hosts=[settings_json(h) for h in hosts if h.network or h.storage])


async def get_host_settings(request: Request) -> Response:
    await authenticate(request)
    host = await Hosts(ctx_of(request)).host(request.path_params["uuid"])
    return _deployment_answer(host=settings_json(host))


async def save_host_settings(request: Request) -> Response:
    await authenticate(request, Privilege.DEPLOY)
    body = await json_body(request)
    saved = await Hosts(ctx_of(request)).save_settings(body)
    return _deployment_answer(hosts=[settings_json(h) for h in saved])


async def delete_host_settings(request: Request) -> Response:
    await authenticate(request, Privilege.DEPLOY)
    await Hosts(ctx_of(request)).delete_settings(request.path_params["uuid"])
    return _deployment_answer()


# -- BMCs -----------------------------------------------------------------------------


def _registered(reg: Registered, status: int = 200) -> Response:
    return envelope(
        status,
        bmc=bmc_json(reg.bmc, reg.hosts),
        systems=[{"uuid": h.uuid, "name": h.name, "powerState": h.power_state} for h in reg.hosts],
    )


async def list_bmcs(request: Request) -> Response:
    await authenticate(request)
    hosts = Hosts(ctx_of(request))
    known = await hosts.hosts()
    return envelope(bmcs=[bmc_json(b, known) for b in await hosts.bmcs()])


async def get_bmc(request: Request) -> Response:
    await authenticate(request)
    hosts = Hosts(ctx_of(request))
    bmc = await hosts.bmc(parse_bmc_id(request.path_params["bid"]))
    return envelope(bmc=bmc_json(bmc, await hosts.hosts_of(bmc.id)))


async def add_bmc(request: Request) -> Response:
    user = await authenticate(request, Privilege.DEPLOY)
    body = await json_body(request)
    return _registered(await Hosts(ctx_of(request)).register(body, user.name), 201)


async def refresh_bmc(request: Request) -> Response:
    await authenticate(request, Privilege.DEPLOY)
    bid = parse_bmc_id(request.path_params["bid"])
    return _registered(await Hosts(ctx_of(request)).refresh(bid))


async def delete_bmc(request: Request) -> Response:
    await authenticate(request, Privilege.DEPLOY)
    await Hosts(ctx_of(request)).remove(parse_bmc_id(request.path_params["bid"]))
    return envelope()


# -- deployments ----------------------------------------------------------------------


def _base(request: Request) -> str:
    """The URL hosts and BMCs reach this server at: OSDEPOT_PUBLIC_URL, else the one
    the request came to."""
    return ctx_of(request).settings.public_url or str(request.base_url)


async def deploy(request: Request) -> Response:
    """PUT /hostPlatforms: a deployment job per host (all entries checked first)."""
    user = await authenticate(request, Privilege.DEPLOY)
    body = await json_body(request)
    started = await Deployments(ctx_of(request)).start(body, user, _base(request))
    return envelope(
        jobId=str(started[0][1]),
        jobIds=[str(job) for _uuid, job in started],
        jobs=[{"uuid": uuid, "jobId": str(job)} for uuid, job in started],
    )


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


async def report_status(request: Request) -> Response:
    """PUT /hostPlatforms/{uuid}: the installer's status call, with the deployment's
    token as a Bearer credential (LXCA: a certificate); or an administrator's, with
    the deploy privilege (a state the installer could not report)."""
    token = _bearer(request)
    user = None if token is not None else await authenticate(request, Privilege.DEPLOY)
    body = await json_body(request)
    deployments = Deployments(ctx_of(request))
    uuid = request.path_params["uuid"]
    if user is None:
        host = await deployments.report(uuid, token or "", body)
    else:
        host = await deployments.report_by(uuid, user.name, body)
    return envelope(uuid=host.uuid, deployStatus=deploy_status_json(host))


async def deployment_file(request: Request) -> Response:
    """GET /deployments/{token}/{name}: the configuration volume (config.iso) or the
    unattended file of a running deployment, or an ESXi deployment's view of its ISO
    (install.iso); Range and HEAD as BMCs use them."""
    if request.path_params["name"] == INSTALL_VIEW:
        view = await Deployments(ctx_of(request)).install_view(request.path_params["token"])
        return await send(request, view, disposition=False)
    data, ctype = await Deployments(ctx_of(request)).media(
        request.path_params["token"], request.path_params["name"]
    )
    headers = {"Cache-Control": "no-store", "Accept-Ranges": "bytes"}
    wanted = request.headers.get("range")
    if wanted:
        try:
            pieces = parse_range(wanted, len(data))
        except BadRange as exc:
            raise error(Messages.RANGE_NOT_SATISFIABLE, size=len(data), detail=exc.reason) from None
        if len(pieces) == 1:
            start, end = pieces[0]
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            return Response(data[start : end + 1], 206, headers, ctype)
    return Response(data, 200, headers, ctype)
