"""/osImages and /files/osImages: jobs, uploads, listing, deleting."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from osdepot.domain.images import (
    FAMILIES,
    GROUP_OF,
    LISTING_GROUPS,
    ImageType,
    OsKind,
    parse_image_type,
)
from osdepot.domain.profiles import options_json
from osdepot.domain.records import OsImage, Profile, StoredFile
from osdepot.domain.roles import Privilege
from osdepot.errors import OsdepotError, error
from osdepot.messages import Messages
from osdepot.services.import_params import UploadParams, parse_job_id, parse_size
from osdepot.services.imports import Imports
from osdepot.services.remote_import import RemoteImports
from osdepot.services.repository import Listing, Repository, parse_id_list
from osdepot.web.body import BodyReader
from osdepot.web.common import authenticate, ctx_of, envelope, iso, json_body
from osdepot.web.multipart import boundary_from_content_type
from osdepot.web.ranges import etag_matches
from osdepot.web.upload_form import UploadForm

# -- listing ---------------------------------------------------------------------------


def file_json(f: StoredFile) -> dict[str, Any]:
    os_name = f.os
    if f.image_type is ImageType.BOOT and os_name == "windows":
        os_name = "win"  # the reference lists Windows boot files with os "win"
    return {
        "id": f.id,
        "name": f.name,
        "description": f.description,
        "type": f.image_type.value,
        "os": os_name or "",
        "osrelease": f.osrelease or "",
        "size": f.size,
        "sha256": f.sha256,
        "checksums": f.checksums,
        "importedBy": f.imported_by,
        "importedAt": iso(f.imported_at),
        "imageName": f.image_name or "",
        "version": f.version,
        "bundleId": "",
        "jobId": str(f.job_id) if f.job_id is not None else "",
    }


def profile_json(p: Profile, kind: OsKind | None, types: dict[str, ImageType]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": p.id,
        "name": p.name,
        "profile": p.profile,
        "type": p.type,
        "description": p.description,
        "osImageId": p.image_id,
    }
    if p.custom:
        files = [(fid, types[fid]) for fid in p.file_ids if fid in types]
        out.update(
            baseProfile=p.base_profile,
            createdBy=p.created_by,
            createdAt=iso(p.created_at) if p.created_at else "",
            customizationOptions=options_json(kind, files),
        )
    return out


def image_json(
    img: OsImage, file: StoredFile | None, types: dict[str, ImageType] | None = None
) -> dict[str, Any]:
    fam = FAMILIES.get(img.os or "")
    return {
        "id": img.id,
        "name": img.name,
        "description": img.description,
        "os": img.os or "",
        "osDisplayName": fam.display if fam else "",
        "osrelease": img.osrelease or "",
        "version": img.version or "",
        "arch": img.arch or "",
        "osinfoId": img.osinfo_id or "",
        "type": "OS",
        "deployStatus": "ready",
        "osBuildId": img.build or "",
        "editions": img.details.get("editions", []),
        "variants": img.details.get("variants", []),
        "recognisedBy": img.details.get("recognisedBy", ""),
        "fileId": img.file_id,
        "fileName": file.name if file else "",
        "size": file.size if file else 0,
        "sha256": file.sha256 if file else "",
        "importedBy": file.imported_by if file else "",
        "importedAt": iso(img.created_at),
        "profiles": [profile_json(p, fam.kind if fam else None, types or {}) for p in img.profiles],
    }


def supported_images() -> list[dict[str, str]]:
    return [
        {"id": f.name, "name": f.name, "displayName": f.display, "type": f.kind.value}
        for f in FAMILIES.values()
    ]


async def list_images(request: Request) -> Response:
    await authenticate(request)
    repo = Repository(ctx_of(request))
    q = request.query_params
    itype = q.get("imageType")
    if itype:
        if parse_image_type(itype) is not ImageType.OSPROFILE:
            raise error(
                Messages.INVALID_VALUE,
                name="imageType",
                detail="GET /osImages filters by imageType=OSPROFILE only.",
            )
        ids = parse_id_list(q["id"]) if q.get("id") else None
        images = await repo.profiles(ids)
        types = {f.id: f.image_type for f in (await repo.listing()).files}
        return envelope(items=[image_json(i, None, types) for i in images])
    gz = accepts_gzip(request.headers.get("accept-encoding", ""))
    listing = await repo.current_listing(_render_listing)
    # A client that sends back the entity tag of its copy (a browser does by itself)
    # is told 304 while the repository has not changed, instead of the whole listing.
    headers = {
        "Vary": "Accept-Encoding",
        "ETag": f'"{listing.tag}-gzip"' if gz else f'"{listing.tag}"',
        "Cache-Control": "private, no-cache",
    }
    if etag_matches(request.headers.get("if-none-match", ""), headers["ETag"]):
        return Response(status_code=304, headers=headers)
    body = await repo.encoded(listing, gz)
    if gz:
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type="application/json", headers=headers)


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an ``Accept-Encoding`` value (RFC 9110 12.5.3) takes gzip: named, or
    ``*``, with a weight above 0 (``gzip;q=0`` refuses it)."""
    weights: dict[str, float] = {}
    for item in accept_encoding.lower().split(","):
        name, _, params = item.partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        weights[name.strip()] = q
    q = weights.get("gzip", weights.get("x-gzip", weights.get("*", 0.0)))
    return q > 0


def _render_listing(listing: Listing) -> bytes:
    """The ``GET /osImages`` body of a listing."""
    by_id = {f.id: f for f in listing.files}
    types = {f.id: f.image_type for f in listing.files}
    groups: dict[str, list[dict[str, Any]]] = {g.key: [] for g in LISTING_GROUPS}
    image_files = {i.file_id for i in listing.images}
    for f in listing.files:
        if f.image_type is ImageType.OS or f.id in image_files:
            continue
        groups[GROUP_OF[f.image_type]].append(file_json(f))
    body = {
        "result": "success",
        "items": [image_json(i, by_id.get(i.file_id), types) for i in listing.images],
        **groups,
        "supportedImages": supported_images(),
        "messages": [],
    }
    return json.dumps(body, separators=(",", ":")).encode()


# -- jobs ------------------------------------------------------------------------------


async def create_job(request: Request) -> Response:
    q = request.query_params
    if q.get("jobId") or q.get("jobID"):
        # The Ruby client posts remote imports here (contract §2.4).
        return await upload(request)
    user = await authenticate(request, Privilege.EDIT_FILES)
    single_params(request)
    body = await json_body(request)
    job = await Imports(ctx_of(request)).create_job(user, q.get("imageType"), body)
    return envelope(201, jobId=str(job.id))


# -- per object ------------------------------------------------------------------------


async def delete_objects(request: Request) -> Response:
    await authenticate(request, Privilege.DELETE_FILES)
    ids = parse_id_list(request.path_params.get("ids", ""))
    await Repository(ctx_of(request)).delete(ids)
    return envelope()


async def delete_nothing(request: Request) -> Response:
    await authenticate(request, Privilege.DELETE_FILES)
    raise error(
        Messages.MISSING_PARAMETER,
        name="id",
        detail="Name the objects to delete: DELETE /osImages/{id,id,...}.",
    )


# -- upload ---------------------------------------------------------------------------


#: The query parameters of an import, each read once.
_IMPORT_PARAMS = (
    "jobId",
    "jobID",
    "imageType",
    "imageName",
    "os",
    "osrelease",
    "description",
    "checksumType",
    "checksumValue",
    "fileName",
)


def single_params(request: Request) -> None:
    """400 for an import parameter given twice (Starlette reads the last of two, a
    proxy or a log in front of osdepot may read the first), or a job named twice
    (``jobId`` and LXCA's other spelling ``jobID``) as two jobs."""
    q = request.query_params
    for key in _IMPORT_PARAMS:
        if len(q.getlist(key)) > 1:
            raise error(
                Messages.INVALID_VALUE,
                name=key,
                detail=f"{key} is given more than once in the query; give it once.",
            )
    one, other = q.get("jobId"), q.get("jobID")
    if one and other and one != other:
        raise error(
            Messages.INVALID_VALUE, name="jobId", detail="jobId and jobID name two jobs; give one."
        )


def upload_params(request: Request, overrides: Mapping[str, str] | None = None) -> UploadParams:
    """An upload's parameters from the query (``overrides``: the same names given
    another way, such as a resumable upload's metadata, which take precedence)."""
    single_params(request)
    q: Mapping[str, str] = request.query_params
    if overrides:
        known = ("checksumType", "checksumValue", "imageName", "os", "osrelease", "description")
        q = {**dict(q), **{k: v for k, v in overrides.items() if k in known}}
    itype = q.get("imageType")
    return UploadParams(
        job_id=parse_job_id(q.get("jobId") or q.get("jobID")),
        image_type=parse_image_type(itype) if itype else None,
        image_name=q.get("imageName") or None,
        os=q.get("os") or None,
        osrelease=q.get("osrelease") or None,
        description=q.get("description") or "",
        checksum_type=q.get("checksumType") or None,
        checksum_value=q.get("checksumValue") or None,
    )


async def upload(request: Request) -> Response:
    """POST /files/osImages?jobId=…: the file in multipart part ``uploadedfile``, or
    a remote import's JSON body."""
    user = await authenticate(request, Privilege.EDIT_FILES)
    ctx = ctx_of(request)
    ctype = request.headers.get("content-type", "")
    params = upload_params(request)
    if not ctype.lower().startswith("multipart/"):
        # A remote import: {"serverId", "path"} as JSON (pylxca sends no content type).
        body = await json_body(request)
        job = await RemoteImports(ctx).start(user, params, body)
        return envelope(201, jobId=str(job.id), taskId=str(job.id))
    boundary = boundary_from_content_type(ctype)
    imports = Imports(ctx)
    job, itype = await imports.check_upload(user, params)
    try:
        body_length = parse_size(request.headers.get("content-length"), "Content-Length")
    except OsdepotError:
        body_length = None
    reader = BodyReader(request, ctx.settings.upload_stall_timeout, ctx.settings.progress_interval)
    form = UploadForm(reader, boundary)
    filename = await form.file_part()
    # A checksumType field sent before the file lets its hash run with SHA-256.
    early = form.fields.get("checksumType") or params.checksum_type
    p = dataclasses.replace(params, checksum_type=early)
    run = await imports.claim_upload(user, job, itype, p, filename, body_length)
    async with run:
        await run.open()
        await form.receive_file(run)
        await form.rest()
        stored = await run.finish(
            form.fields.get("checksumType") or params.checksum_type,
            form.fields.get("checksumValue") or params.checksum_value,
        )
    extra = {"imageId": run.image_id} if run.image_id else {}
    return envelope(201, fileid=stored.id, **extra)
