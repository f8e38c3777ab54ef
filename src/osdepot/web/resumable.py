"""Resumable uploads over HTTP: tus 1.0 and the IETF draft on one resource
(docs/api.md, "Resumable uploads"; the use case is services/resumable.py).

``POST /files/osImages/uploads?jobId=…`` (the query parameters of ``POST
/files/osImages``) makes an upload for an open import job and answers its URL in
``Location``; ``HEAD`` on that URL tells its offset, ``PATCH`` appends at the offset,
``DELETE`` ends it. Which protocol a request speaks is read from its headers:
``Tus-Resumable: 1.0.0`` is tus (with the creation, creation-with-upload,
termination, checksum and expiration extensions); ``Upload-Draft-Interop-Version`` or
``Upload-Complete`` is draft-ietf-httpbis-resumable-upload (interop versions 5, 6 —
tus-js-client's ``ietf-draft-03`` and ``ietf-draft-05`` — up to the current 8).
``OPTIONS`` answers both.
"""

from __future__ import annotations

import dataclasses
import email.utils
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from osdepot.domain.records import Upload
from osdepot.domain.roles import Privilege
from osdepot.errors import OsdepotError, error
from osdepot.messages import Messages
from osdepot.services.import_params import UploadParams, check_checksum_pair
from osdepot.services.resumable import ResumableUploads
from osdepot.services.upload_request import CHUNK_ALGORITHMS, Append, Appended
from osdepot.web.body import INTERIM, BodyReader
from osdepot.web.common import authenticate, ctx_of, error_response, url_path
from osdepot.web.osimages import upload_params
from osdepot.web.upload_headers import (
    bool_header,
    chunk_checksum,
    disposition_filename,
    int_header,
    parse_metadata,
    repr_digest,
    single_header,
)

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,creation-with-upload,termination,checksum,expiration"
#: the draft's interop versions understood (tus-js-client sends 5 and 6; -11 on: 8)
INTEROP_VERSIONS = ("5", "6", "7", "8")
CURRENT_INTEROP = "8"
TUS_TYPE = "application/offset+octet-stream"
PARTIAL_TYPE = "application/partial-upload"
#: where the uploads live (the upload's id follows)
BASE = "/files/osImages/uploads"


class _Protocol:
    """The protocol a request speaks, and the headers every answer to it carries."""

    def __init__(self, request: Request) -> None:
        h = request.headers
        tus = h.get("tus-resumable")
        interop = h.get("upload-draft-interop-version")
        self.tus = tus is not None
        self.ietf = not self.tus and (interop is not None or "upload-complete" in h)
        self.interop = interop.strip() if interop else ""
        if self.tus and tus != TUS_VERSION:
            raise _TusVersion()

    @property
    def name(self) -> str:
        return "tus" if self.tus else "ietf"

    def headers(self) -> dict[str, str]:
        if self.tus:
            return {"Tus-Resumable": TUS_VERSION}
        return {}


class _TusVersion(Exception):
    """A tus version other than 1.0.0: 412 with the versions supported."""


def _limits(request: Request) -> str:
    s = ctx_of(request).settings
    parts = ["min-size=0"]
    if s.max_repository_bytes:
        parts.insert(0, f"max-size={s.max_repository_bytes}")
    parts.append(f"max-age={s.upload_expiry}")
    return ", ".join(parts)


def _state_headers(request: Request, proto: _Protocol, up: Upload) -> dict[str, str]:
    """The upload's state as the request's protocol tells it."""
    h = proto.headers()
    h["Upload-Offset"] = str(up.offset)
    if up.length is not None:
        h["Upload-Length"] = str(up.length)
    h["Cache-Control"] = "no-store"
    if proto.tus:
        h["Upload-Expires"] = email.utils.formatdate(up.expires_at, usegmt=True)
    else:
        h["Upload-Complete"] = "?0"
        h["Upload-Limit"] = _limits(request)
    return h


def _location(request: Request, up: Upload) -> str:
    return f"{BASE}/{up.id}"


def _failure(
    request: Request, proto: _Protocol | None, exc: OsdepotError, up: Upload | None = None
) -> Response:
    """An error in the request's protocol: the LXCA envelope (or, for the IETF draft's
    offset mismatch, a problem document) with the protocol's headers."""
    response = error_response(exc)
    if proto is None:
        return response
    for k, v in proto.headers().items():
        response.headers[k] = v
    if exc.message is Messages.UPLOAD_OFFSET_MISMATCH and up is not None:
        response.headers["Upload-Offset"] = str(up.offset)
        if proto.ietf:
            expected = exc.params.get("expected", up.offset)
            problem = {
                "type": "https://iana.org/assignments/http-problem-types#mismatching-upload-offset",
                "title": "offset from request does not match offset of resource",
                "expected-offset": expected,
                "provided-offset": exc.params.get("provided"),
                "messages": [exc.render()],
            }
            return JSONResponse(
                problem,
                status_code=409,
                headers={
                    "Upload-Offset": str(expected),
                    "Upload-Complete": "?0",
                    "Content-Type": "application/problem+json",
                },
                media_type="application/problem+json",
            )
    if proto.ietf:
        response.headers.setdefault("Upload-Complete", "?0")
    return response


async def options(request: Request) -> Response:
    """What this server supports, for tus clients and IETF-draft clients (no login:
    nothing but the protocol's constants)."""
    headers = {
        "Tus-Resumable": TUS_VERSION,
        "Tus-Version": TUS_VERSION,
        "Tus-Extension": TUS_EXTENSIONS,
        "Tus-Checksum-Algorithm": ",".join(CHUNK_ALGORITHMS),
        "Upload-Limit": _limits(request),
        "Allow": "OPTIONS, POST"
        if "upload_id" not in request.path_params
        else ("OPTIONS, HEAD, PATCH, DELETE"),
    }
    s = ctx_of(request).settings
    if s.max_repository_bytes:
        headers["Tus-Max-Size"] = str(s.max_repository_bytes)
    return Response(status_code=204, headers=headers)


def _protocol(request: Request) -> _Protocol | Response:
    """The request's protocol, or the answer to a tus version other than 1.0.0."""
    try:
        return _Protocol(request)
    except _TusVersion:
        return _tus_version_refused()


def _tus_version_refused() -> Response:
    return Response(
        status_code=412,
        headers={"Tus-Resumable": TUS_VERSION, "Tus-Version": TUS_VERSION},
        content=b"",
    )


@dataclass(frozen=True)
class _Creation:
    """What an upload creation request asks."""

    params: UploadParams
    filename: str
    length: int | None
    complete: bool | None
    content_length: int | None
    has_body: bool
    #: the body's own checksum (tus ``Upload-Checksum``) and the whole file's
    #: (``Repr-Digest``): checked as a PATCH's are (creation-with-upload)
    chunk: tuple[str, bytes] | None = None
    digest: tuple[str, str] | None = None


def _creation(request: Request, proto: _Protocol) -> _Creation:
    if not proto.tus and not proto.ietf:
        raise error(
            Messages.MISSING_PARAMETER,
            name="Tus-Resumable",
            detail="A resumable upload is made with the header Tus-Resumable: 1.0.0 (tus) "
            "or Upload-Complete (draft-ietf-httpbis-resumable-upload).",
        )
    meta = parse_metadata(single_header(request, "Upload-Metadata"))
    params = upload_params(request, meta)
    filename = (
        meta.get("filename")
        or meta.get("name")
        or disposition_filename(single_header(request, "Content-Disposition"))
        or request.query_params.get("fileName")
    )
    if not filename:
        raise error(
            Messages.MISSING_PARAMETER,
            name="filename",
            detail="Name the file in Upload-Metadata (filename, base64) or in Content-Disposition.",
        )
    if params.checksum_type is not None or params.checksum_value is not None:
        check_checksum_pair(params.checksum_type, params.checksum_value, final=False)
    length = int_header(request, "upload-length")
    complete = bool_header(request, "upload-complete") if proto.ietf else None
    content_length = int_header(request, "content-length")
    has_body = bool(content_length) or "transfer-encoding" in request.headers
    if proto.tus:
        if length is None:
            raise error(
                Messages.INVALID_VALUE,
                name="Upload-Length",
                detail="A tus upload is created with Upload-Length, the file's size "
                "(Upload-Defer-Length is not supported).",
            )
    elif complete and content_length is not None:
        if length is not None and length != content_length:
            raise error(
                Messages.UPLOAD_LENGTH,
                upload_id="(new)",
                detail=f"Upload-Length says {length} bytes and the request, which "
                f"completes the upload, carries {content_length}.",
            )
        length = content_length
    if has_body:
        _check_type(request, proto)
    return _Creation(
        params,
        filename,
        length,
        complete,
        content_length,
        has_body,
        chunk_checksum(request),
        repr_digest(request),
    )


async def create(request: Request) -> Response:
    """POST /files/osImages/uploads?jobId=…: a new upload (with the first bytes, when
    the request carries them)."""
    proto = _protocol(request)
    if isinstance(proto, Response):
        return proto
    service = ResumableUploads(ctx_of(request))
    try:
        user = await authenticate(request, Privilege.EDIT_FILES)
        c = _creation(request, proto)
        up = await service.create(user, c.params, c.length, c.filename, proto.name)
    except OsdepotError as exc:
        return _failure(request, proto, exc)
    location = _location(request, up)
    if proto.ietf and proto.interop in INTEROP_VERSIONS:
        _interim(request, location, proto)
    finish_now = c.has_body or (proto.tus and c.length == 0) or bool(c.complete)
    if not finish_now:
        headers = _state_headers(request, proto, up)
        headers["Location"] = location
        return Response(status_code=201, headers=headers)
    req = Append(
        offset=0,
        content_length=c.content_length,
        complete=c.complete,
        chunk=c.chunk,
        digest=c.digest,
    )
    response = await _append(request, proto, up, req, service, user)
    response.headers["Location"] = location
    if response.status_code == 204:
        response.status_code = 201
    return response


def _interim(request: Request, location: str, proto: _Protocol) -> None:
    """The draft's ``104 (Upload Resumption Supported)`` with the upload's URL, before
    the body is read (only to clients that said which interop version they speak)."""
    send = request.scope.get("extensions", {}).get(INTERIM)
    if send is None:
        return
    send(
        104,
        "Upload Resumption Supported",
        [
            ("Location", location),
            ("Upload-Draft-Interop-Version", proto.interop or CURRENT_INTEROP),
            ("Upload-Limit", _limits(request)),
        ],
    )


def _check_type(request: Request, proto: _Protocol) -> None:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if proto.tus:
        ok = ctype == TUS_TYPE
        expected = TUS_TYPE
    else:  # interop 5 sent none; later ones the draft's media type
        ok = ctype in ("", PARTIAL_TYPE, TUS_TYPE, "application/octet-stream")
        expected = PARTIAL_TYPE
    if not ok:
        raise error(Messages.UNSUPPORTED_MEDIA_TYPE, expected=expected, actual=ctype)


async def head(request: Request) -> Response:
    """HEAD (or GET) on an upload: its offset (and length, and expiry)."""
    proto = _protocol(request)
    if isinstance(proto, Response):
        return proto
    try:
        user = await authenticate(request, Privilege.EDIT_FILES)
        up = await ResumableUploads(ctx_of(request)).head(user, request.path_params["upload_id"])
    except OsdepotError as exc:
        return _failure(request, proto, exc)
    return Response(status_code=200, headers=_state_headers(request, proto, up))


async def patch(request: Request) -> Response:
    """PATCH an upload: the body appended at ``Upload-Offset``. POST with
    ``X-HTTP-Method-Override: PATCH`` does the same (tus clients behind proxies that
    refuse PATCH)."""
    proto = _protocol(request)
    if isinstance(proto, Response):
        return proto
    service = ResumableUploads(ctx_of(request))
    up: Upload | None = None
    try:
        user = await authenticate(request, Privilege.EDIT_FILES)
        override = request.headers.get("x-http-method-override", "").upper()
        if request.method == "POST" and override != "PATCH":
            raise error(
                Messages.NOT_SUPPORTED,
                detail="POST on an upload's URL needs X-HTTP-Method-Override: PATCH.",
            )
        if not proto.tus and not proto.ietf:
            proto.ietf = True  # a plain PATCH with Upload-Offset: the draft's append
        _check_type(request, proto)
        up = await service.mine(user, request.path_params["upload_id"])
        offset = int_header(request, "upload-offset", required=True)
        assert offset is not None
        req = Append(
            offset=offset,
            content_length=int_header(request, "content-length"),
            complete=bool_header(request, "upload-complete") if proto.ietf else None,
            length=int_header(request, "upload-length"),
            chunk=chunk_checksum(request),
            digest=repr_digest(request),
        )
    except OsdepotError as exc:
        return _failure(request, proto, exc, up)
    return await _append(request, proto, up, req, service, user)


async def _append(
    request: Request,
    proto: _Protocol,
    up: Upload,
    req: Append,
    service: ResumableUploads,
    user: Any,
) -> Response:
    ctx = ctx_of(request)
    reader = BodyReader(request, ctx.settings.upload_stall_timeout, ctx.settings.progress_interval)
    send = request.scope.get("extensions", {}).get(INTERIM)
    if send is not None and proto.ietf and proto.interop in INTEROP_VERSIONS:
        # the draft's progress answers: a 104 with each offset recorded while the
        # request's bytes arrive (never a Location)
        def progress(offset: int) -> None:
            send(
                104,
                "Upload Resumption Supported",
                [("Upload-Offset", str(offset)), ("Upload-Draft-Interop-Version", proto.interop)],
            )

        req = dataclasses.replace(req, on_checkpoint=progress)
    try:
        done: Appended = await service.append(user, up, req, reader)
    except OsdepotError as exc:
        now = await ctx.read(lambda c: c.get_upload(up.id))
        response = _failure(request, proto, exc, now or up)
        if now is None:  # the import ended with this request (failed, or cancelled)
            job = await ctx.read(lambda c: c.get_job(up.job_id))
            response.headers["Osdepot-Job-Id"] = str(up.job_id)
            response.headers["Osdepot-Job-Status"] = job.status.value if job else "Stopped"
            if proto.ietf:
                response.headers["Upload-Complete"] = "?1"
        return response
    headers = _state_headers(request, proto, done.upload)
    if done.stored is None:
        return Response(status_code=204, headers=headers)
    # the last byte: the import is committed; its outcome in headers and body
    headers.pop("Cache-Control", None)
    headers["Upload-Offset"] = str(done.stored.size)
    headers["Osdepot-Job-Id"] = str(up.job_id)
    headers["Osdepot-Job-Status"] = "Complete"
    # as in the file's URL (/files/osImages/{id}): an id is its file's name, any
    # Unicode, and a header value is bytes of ISO-8859-1 at most
    headers["Osdepot-File-Id"] = url_path(done.stored.id)
    body: dict[str, Any] = {"jobId": str(up.job_id), "fileid": done.stored.id}
    if done.image_id:
        headers["Osdepot-Image-Id"] = done.image_id
        body["imageId"] = done.image_id
    if proto.ietf:
        headers["Upload-Complete"] = "?1"
    response = JSONResponse(
        {"result": "success", **body, "messages": []}, status_code=200, headers=headers
    )
    return response


async def delete(request: Request) -> Response:
    """DELETE an upload: its job Cancelled, its bytes removed (tus termination)."""
    proto = _protocol(request)
    if isinstance(proto, Response):
        return proto
    try:
        user = await authenticate(request, Privilege.EDIT_FILES)
        await ResumableUploads(ctx_of(request)).terminate(user, request.path_params["upload_id"])
    except OsdepotError as exc:
        return _failure(request, proto, exc)
    return Response(status_code=204, headers=proto.headers())
