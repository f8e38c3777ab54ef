"""/osImages and /files/osImages: jobs, uploads, listing, deleting."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from osdepot.domain.images import FAMILIES, ImageType, parse_image_type
from osdepot.domain.records import OsImage, StoredFile
from osdepot.domain.roles import Privilege
from osdepot.errors import M, OsdepotError, error
from osdepot.services.import_params import UploadParams, parse_job_id, parse_size
from osdepot.services.remote_import import RemoteImports
from osdepot.services.repository import Listing, Repository, parse_id_list
from osdepot.services.uploads import Imports, UploadSink
from osdepot.web.body import BodyReader, receive_file
from osdepot.web.common import authenticate, ctx_of, envelope, iso, json_body
from osdepot.web.multipart import (
    MAX_FIELD_BYTES,
    MultipartParser,
    PartData,
    PartEnd,
    PartStart,
    boundary_from_content_type,
)

#: imageType → the group of GET /osImages that lists it.
GROUPS: dict[ImageType, str] = {
    ImageType.BOOT: "bootFiles",
    ImageType.DUD: "deviceDrivers",
    ImageType.BUNDLE: "bundleFiles",
    ImageType.BUNDLESIG: "bundleFiles",
    ImageType.SCRIPT: "installScriptFiles",
    ImageType.SOFTWARE: "softwareFiles",
    ImageType.UNATTEND: "unattendFiles",
    ImageType.CONFIG: "configFiles",
    ImageType.OSPROFILE: "osProfileFiles",
}
GROUP_ORDER = [
    "bootFiles",
    "deviceDrivers",
    "bundleFiles",
    "installScriptFiles",
    "softwareFiles",
    "unattendFiles",
    "configFiles",
    "osProfileFiles",
]

UPLOAD_FIELDS = ("checksumType", "checksumValue")


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
        "bundleId": "",
        "jobId": str(f.job_id) if f.job_id is not None else "",
    }


def image_json(img: OsImage, file: StoredFile | None) -> dict[str, Any]:
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
        "profiles": [
            {
                "id": p.id,
                "name": p.name,
                "profile": p.profile,
                "type": p.type,
                "description": p.description,
                "osImageId": p.image_id,
            }
            for p in img.profiles
        ],
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
                M.INVALID_VALUE,
                name="imageType",
                detail="GET /osImages filters by imageType=OSPROFILE only.",
            )
        ids = parse_id_list(q["id"]) if q.get("id") else None
        images = await repo.profiles(ids)
        return envelope(items=[image_json(i, None) for i in images])
    return Response(await repo.rendered_listing(_render_listing), media_type="application/json")


def _render_listing(listing: Listing) -> bytes:
    """The ``GET /osImages`` body of a listing."""
    by_id = {f.id: f for f in listing.files}
    groups: dict[str, list[dict[str, Any]]] = {g: [] for g in GROUP_ORDER}
    image_files = {i.file_id for i in listing.images}
    for f in listing.files:
        if f.image_type is ImageType.OS or f.id in image_files:
            continue
        groups[GROUPS[f.image_type]].append(file_json(f))
    body = {
        "result": "success",
        "items": [image_json(i, by_id.get(i.file_id)) for i in listing.images],
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
        M.MISSING_PARAMETER,
        name="id",
        detail="Name the objects to delete: DELETE /osImages/{id,id,...}.",
    )


async def export_profile(request: Request) -> Response:
    """GET /osImages/{id}: export of a customised profile (contract §4.1)."""
    await authenticate(request, Privilege.EDIT_FILES)
    pid = request.path_params["ids"]
    found = await ctx_of(request).run(ctx_of(request).catalog.find_profiles, [pid])
    if not found:
        raise error(
            M.NOT_FOUND,
            what="Profile",
            name=pid,
            detail="Only customised OS-image profiles can be exported.",
        )
    raise error(
        M.NOT_SUPPORTED,
        detail=f"{pid} is a predefined profile; only customised profiles can be "
        "exported, and this server does not create customised profiles yet.",
    )


async def customise(request: Request) -> Response:
    """POST/PUT /osImages/{id}: customised profiles (contract §4.3/§4.4)."""
    await authenticate(request, Privilege.EDIT_FILES)
    raise error(
        M.NOT_SUPPORTED,
        detail="Creating and changing customised OS-image profiles is not supported "
        "by this version of osdepot.",
    )


# -- upload ----------------------------------------------------------------------------

#: reads of a body outside the file part's data (part headers, form fields)
HEAD_READ = 64 * 1024


def _params(request: Request) -> UploadParams:
    q = request.query_params
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


async def upload(request: Request) -> Response:  # noqa: C901 (the mode-driven handler the import pipeline replaces (issue 16))
    """POST /files/osImages?jobId=…: the file in multipart part ``uploadedfile``."""
    user = await authenticate(request, Privilege.EDIT_FILES)
    ctype = request.headers.get("content-type", "")
    params = _params(request)
    if not ctype.lower().startswith("multipart/"):
        # A remote import: {"serverId", "path"} as JSON (pylxca sends no content type).
        body = await json_body(request)
        job = await RemoteImports(ctx_of(request)).start(user, params, body)
        return envelope(201, jobId=str(job.id), taskId=str(job.id))
    boundary = boundary_from_content_type(ctype)
    imports = Imports(ctx_of(request))
    job, itype = await imports.check_upload(user, params)
    try:
        body_length = parse_size(request.headers.get("content-length"), "Content-Length")
    except OsdepotError:
        body_length = None

    parser = MultipartParser(boundary)
    fields: dict[str, str] = {}
    sink: UploadSink | None = None
    mode = ""  # "file", "field" or "skip" for the current part
    field_name, field_buf = "", bytearray()
    file_done = False
    settings = ctx_of(request).settings
    reader = BodyReader(request, settings.upload_stall_timeout, settings.progress_interval)
    head = memoryview(bytearray(HEAD_READ))
    try:
        while True:
            if mode == "file" and parser.in_data:
                # The file's bytes go into the sink's buffers in place (web/body.py).
                assert sink is not None
                data = await receive_file(reader, sink, parser.delimiter)
            else:
                data = head[: await reader.readinto(head, some=True)].tobytes()
            if not data:
                break
            for ev in parser.feed(data):
                if isinstance(ev, PartData):
                    if mode == "file":
                        assert sink is not None
                        await sink.write(ev.data)
                    elif mode == "field":
                        field_buf += ev.data
                        if len(field_buf) > MAX_FIELD_BYTES:
                            raise error(
                                M.MALFORMED_BODY,
                                detail=f"The form field {field_name} is too large.",
                            )
                elif isinstance(ev, PartStart):
                    if ev.name == "uploadedfile" and ev.filename is not None and sink is None:
                        p = dataclasses.replace(
                            params,
                            checksum_type=fields.get("checksumType") or params.checksum_type,
                        )
                        sink = await imports.begin_upload(
                            user, job, itype, p, ev.filename, body_length
                        )
                        mode = "file"
                    elif ev.name == "uploadedfile" and sink is not None:
                        raise error(
                            M.MALFORMED_BODY,
                            detail="The body holds more than one uploadedfile part.",
                        )
                    elif ev.name == "uploadedfile":
                        raise error(
                            M.MALFORMED_BODY, detail="The uploadedfile part has no file name."
                        )
                    elif ev.filename is None and ev.name in UPLOAD_FIELDS:
                        mode, field_name, field_buf = "field", ev.name, bytearray()
                    else:
                        mode = "skip"  # unknown parts are ignored (pylxca sends "name")
                elif isinstance(ev, PartEnd):
                    if mode == "field":
                        fields[field_name] = field_buf.decode("utf-8", "replace").strip()
                    elif mode == "file":
                        file_done = True
                    mode = ""
        if not parser.finished:
            raise error(
                M.MALFORMED_BODY, detail="The body ended before the closing multipart boundary."
            )
        if sink is None or not file_done:
            raise error(M.MALFORMED_BODY, detail="The body has no part named uploadedfile.")
        stored = await sink.finish(
            fields.get("checksumType") or params.checksum_type,
            fields.get("checksumValue") or params.checksum_value,
        )
    except ClientDisconnect:
        if sink is not None:
            await sink.fail(
                error(
                    M.UPLOAD_INTERRUPTED,
                    detail="The client closed the connection before the whole file was received.",
                )
            )
        return Response(status_code=400)
    except OsdepotError as exc:
        if sink is not None:
            await sink.fail(exc)
        raise
    except BaseException:
        if sink is not None:
            await sink.fail(error(M.INTERNAL, detail="The upload failed unexpectedly."))
        raise
    extra = {"imageId": sink.image_id} if sink.image_id else {}
    return envelope(201, fileid=stored.id, **extra)
