"""Customised profiles over HTTP: ``POST /osImages/{profileId}`` (customise),
``PUT /osImages/{id}`` (change a profile or a file), ``GET /osImages/{profileId}``
(export job) and ``GET /osImages/{name}.tar.gz`` (the exported archive), and
``POST /osImages/customSettings`` (contract §4)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from osdepot.domain.images import ImageType
from osdepot.domain.records import StoredFile
from osdepot.domain.roles import Privilege
from osdepot.errors import error
from osdepot.messages import Messages
from osdepot.services.downloads import Downloads
from osdepot.services.profile_archives import ProfileExports
from osdepot.services.profiles import Profiles
from osdepot.web.common import authenticate, ctx_of, envelope, json_body
from osdepot.web.downloads import send


def _one_id(request: Request) -> str:
    oid = str(request.path_params["ids"])
    if "," in oid:
        raise error(
            Messages.INVALID_VALUE,
            name="id",
            detail="This operation takes one id; only DELETE takes a list.",
        )
    return oid


async def customise(request: Request) -> Response:
    """POST /osImages/{profileId}: a customised profile made of a predefined one."""
    user = await authenticate(request, Privilege.EDIT_FILES)
    body = await json_body(request)
    profile = await Profiles(ctx_of(request)).customise(user, _one_id(request), body)
    return envelope(201, id=profile.id)


async def modify(request: Request) -> Response:
    """PUT /osImages/{id}: change a customised profile, or a stored file's labels or
    text (imageType names the kind of file)."""
    user = await authenticate(request, Privilege.EDIT_FILES)
    body = await json_body(request)
    done = await Profiles(ctx_of(request)).modify(
        user, _one_id(request), request.query_params.get("imageType"), body
    )
    return envelope(200, id=_one_id(request), detail=done)


async def export_or_archive(request: Request) -> Response:
    """GET /osImages/{id}: an export job for a customised profile; for a name ending
    in .tar.gz, the exported archive of that name (§4.2)."""
    oid = _one_id(request)
    if oid.lower().endswith(".tar.gz"):
        await authenticate(request)
        downloads = Downloads(ctx_of(request))
        return await send(request, await downloads.open_file(await _archive(request, oid)))
    user = await authenticate(request, Privilege.EDIT_FILES)
    q = request.query_params
    job = await ProfileExports(ctx_of(request)).start(user, oid, q.get("serverId"), q.get("path"))
    return envelope(200, jobID=str(job.id), jobId=str(job.id))


async def _archive(request: Request, name: str) -> StoredFile:
    ctx = ctx_of(request)
    found = await ctx.run(ctx.catalog.get_file, name)
    if found is None or found.image_type is not ImageType.OSPROFILE:
        files = await ctx.run(ctx.catalog.list_files)
        named = [f for f in files if f.image_type is ImageType.OSPROFILE and f.name == name]
        found = max(named, key=lambda f: f.imported_at) if named else None
    if found is None:
        raise error(
            Messages.NOT_FOUND,
            what="Exported profile",
            name=name,
            detail="No exported profile archive has this name or id; the export job's "
            "message names the archive.",
        )
    return found


async def custom_settings(request: Request) -> Response:
    """POST /osImages/customSettings: the macros of valid custom configuration
    settings, or an error report (400) of where they are wrong."""
    await authenticate(request, Privilege.EDIT_FILES)
    report = Profiles.custom_settings(await json_body(request))
    if report.errors:
        first = report.errors[0]
        exc = error(
            Messages.CUSTOM_SETTINGS_INVALID,
            count=len(report.errors),
            location=first["location"],
            first=first["message"],
        )
        return JSONResponse(
            {"result": "failed", "errorReport": report.errors, "messages": [exc.render()]},
            status_code=exc.status,
        )
    return envelope(200, customMacros=report.macros)
