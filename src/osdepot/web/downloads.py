"""Downloads: ``GET``/``HEAD /files/osImages/{fileId}``, an OS image's installation tree
(``/osImages/{imageId}/tree/{path}``), signed links (``/links/{token}``, made and
revoked under ``/files/osImages/{fileId}/links`` and ``/osImages/{imageId}/links``).

Every answer carries ``Content-Length``, ``Accept-Ranges: bytes``, a strong ``ETag``,
``Last-Modified`` and ``Content-Disposition`` (and ``Repr-Digest``, RFC 9530, for a
stored file, whose SHA-256 is known); ``Range`` (one piece: 206; several:
``multipart/byteranges``), ``If-Range`` and ``If-None-Match`` (304) are honoured
(web/ranges.py). The bytes are read in :data:`CHUNK` pieces in a worker thread and
sent as the client takes them: a download holds one piece in memory whatever the
file's size, and a slow reader slows only its own download.
"""

from __future__ import annotations

import base64
import email.utils
import html
import secrets
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from osdepot import metrics
from osdepot.domain.roles import Privilege
from osdepot.errors import DownloadCut, error
from osdepot.messages import Messages
from osdepot.ports import FileSpan
from osdepot.services.downloads import Downloads, Listing, Opened, deleted_just_now
from osdepot.services.links import Links
from osdepot.web.common import authenticate, ctx_of, envelope, iso, json_body, url_path
from osdepot.web.protocol import SENDFILE
from osdepot.web.ranges import BadRange, etag_matches, if_range_holds, parse_range
from osdepot.web.sending import PacedResponse, ZeroCopyResponse, budget_for, busy

#: bytes read and sent at a time
CHUNK = 1 << 20


def _http_date(ts: float) -> str:
    return email.utils.formatdate(ts, usegmt=True)


def _disposition(name: str) -> str:
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "'").replace("\\", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


class _Pieces:
    """Reads a download's pieces within the process's budget (web/sending.py): each
    piece is counted until the send after it returns."""

    def __init__(self, request: Request, opened: Opened) -> None:
        self.ctx = ctx_of(request)
        s = self.ctx.settings
        self.stall = float(s.download_stall_timeout)
        self.budget = budget_for(s.download_buffer_bytes)
        self.opened = opened
        self.held: list[int] = []
        self.prepaid = 0
        #: the first piece, read before the answer starts: (offset, bytes)
        self.ahead: tuple[int, bytes] | None = None

    async def first(self, start: int, n: int) -> None:
        """Room for the first piece, and the piece itself, before the answer starts:
        no room is a 503, and so is a store that cannot be read (it raises here)."""
        if not await self.budget.acquire(n, self.stall):
            raise busy(self.stall)
        self.prepaid = n
        try:
            self.ahead = (start, await self.ctx.run(self.opened.reader.read_at, start, n))
        except FileNotFoundError:  # an object deleted since it was opened (S3)
            await self.close()
            raise deleted_just_now(self.opened.name) from None
        except BaseException:
            await self.close()
            raise

    async def _room(self, n: int) -> None:
        if self.prepaid:
            n, self.prepaid = self.prepaid, 0
        elif not await self.budget.acquire(n, self.stall):
            raise DownloadCut(f"no memory was freed for the next piece in {self.stall:g} s")
        self.held.append(n)

    async def read(self, start: int, end: int) -> AsyncIterator[bytes]:
        pos = start
        while pos <= end:
            n = min(CHUNK, end - pos + 1)
            await self._room(n)
            if self.ahead is not None and self.ahead[0] == pos:
                data, self.ahead = self.ahead[1], None
            else:
                try:
                    data = await self.ctx.run(self.opened.reader.read_at, pos, n)
                except FileNotFoundError:  # deleted while it was sent (an S3 object)
                    raise DownloadCut("the file was deleted while it was sent") from None
            if not data:
                break  # the blob ended early (fsck finds it); the client sees a short body
            metrics.BYTES_SENT.labels("buffered").inc(len(data))
            yield data
            pos += len(data)
            while len(self.held) > 1:  # the piece before this one has left the process
                await self.budget.release(self.held.pop(0))

    async def close(self) -> None:
        """Give back what this download holds (safe to call more than once)."""
        held, self.held = sum(self.held) + self.prepaid, []
        self.prepaid = 0
        await self.budget.release(held)
        self.opened.reader.close()


async def _closing(body: AsyncIterator[bytes], pieces: _Pieces) -> AsyncIterator[bytes]:
    try:
        async for piece in body:
            yield piece
    finally:
        await pieces.close()


async def send(request: Request, opened: Opened, *, disposition: bool = True) -> Response:
    """The answer to GET or HEAD of ``opened``, with ranges and conditions."""
    size = opened.size
    modified = _http_date(opened.modified)
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": opened.etag,
        "Last-Modified": modified,
        "Cache-Control": "private, no-cache",
    }
    if disposition:
        headers["Content-Disposition"] = _disposition(opened.name)
    if opened.sha256:
        digest = base64.b64encode(bytes.fromhex(opened.sha256)).decode("ascii")
        headers["Repr-Digest"] = f"sha-256=:{digest}:"
    h = request.headers
    if "if-none-match" in h and etag_matches(h["if-none-match"], opened.etag):
        opened.reader.close()
        return Response(status_code=304, headers=headers)
    ranges = None
    if "range" in h and (
        "if-range" not in h or if_range_holds(h["if-range"], opened.etag, modified)
    ):
        try:
            ranges = parse_range(h["range"], size)
        except BadRange as exc:
            opened.reader.close()
            refused = error(Messages.RANGE_NOT_SATISFIABLE, size=size, detail=exc.reason)
            refused.headers["Content-Range"] = f"bytes */{size}"
            raise refused from None
    head = request.method == "HEAD"
    if not head and size and (ranges is None or len(ranges) == 1):
        piece = ranges[0] if ranges else (0, size - 1)
        zero = _zero_copy(request, opened, piece, ranges is not None, headers)
        if zero is not None:
            return zero
    pieces = _Pieces(request, opened)
    if not head and size:
        first = ranges[0] if ranges else (0, size - 1)
        await pieces.first(first[0], min(CHUNK, first[1] - first[0] + 1))
    if ranges is None:
        headers["Content-Length"] = str(size)
        body = None if head else pieces.read(0, size - 1)
        return _respond(200, body, headers, pieces, "application/octet-stream")
    if len(ranges) == 1:
        start, end = ranges[0]
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        headers["Content-Length"] = str(end - start + 1)
        body = None if head else pieces.read(start, end)
        return _respond(206, body, headers, pieces, "application/octet-stream")
    boundary = "osdepot-" + secrets.token_hex(12)
    parts = [
        (
            f"\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Range: bytes {s}-{e}/{size}\r\n\r\n"
        ).encode()
        for s, e in ranges
    ]
    closing = f"\r\n--{boundary}--\r\n".encode()
    headers["Content-Length"] = str(
        sum(len(p) for p in parts) + sum(e - s + 1 for s, e in ranges) + len(closing)
    )

    async def multipart() -> AsyncIterator[bytes]:
        for part, (s, e) in zip(parts, ranges, strict=True):
            yield part
            async for piece in pieces.read(s, e):
                yield piece
        yield closing

    return _respond(
        206, None if head else multipart(), headers, pieces,
        f"multipart/byteranges; boundary={boundary}",
    )  # fmt: skip


def _zero_copy(
    request: Request,
    opened: Opened,
    piece: tuple[int, int],
    ranged: bool,
    headers: dict[str, str],
) -> Response | None:
    """The answer sent with os.sendfile, when the server offers it (plain TCP), the
    bytes lie in one local file and a sendfile thread is free; else None."""
    sendfile = request.scope.get("extensions", {}).get(SENDFILE)
    if sendfile is None or not isinstance(opened.reader, FileSpan):
        return None
    start, end = piece
    span = opened.reader.span(start, end - start + 1)
    if span is None or not sendfile.reserve():
        return None
    status = 200
    if ranged:
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{opened.size}"

    async def done() -> None:
        opened.reader.close()

    return ZeroCopyResponse(
        sendfile,
        span,
        end - start + 1,
        float(ctx_of(request).settings.download_stall_timeout),
        done,
        status_code=status,
        headers=headers,
        media_type="application/octet-stream",
    )


def _respond(
    status: int,
    body: AsyncIterator[bytes] | None,
    headers: dict[str, str],
    pieces: _Pieces,
    media_type: str,
) -> Response:
    if body is None:  # HEAD (or an empty file): the headers of the GET, no body
        pieces.opened.reader.close()
        response = Response(status_code=status, headers=headers, media_type=media_type)
        response.headers["Content-Length"] = headers["Content-Length"]
        return response
    return PacedResponse(
        _closing(body, pieces),
        pieces.stall,
        pieces.close,
        status_code=status,
        headers=headers,
        media_type=media_type,
    )


#: The most entries one HTML listing of a tree folder shows: an ISO folder may hold some
#: 250,000 (8 MiB of records), 20 MB of HTML built for each request; installers ask for
#: files by path and never read the listing.
MAX_LISTED = 10_000


def _listing(request: Request, listing: Listing) -> Response:
    """A small HTML listing of a tree directory (links relative to it)."""
    if not request.url.path.endswith("/"):
        # the path percent-encoded again: a folder's name may be in any script, and a
        # header value is bytes of ISO-8859-1 at most
        location = url_path(request.url.path, slashes=True) + "/"
        return Response(status_code=301, headers={"Location": location})
    rows = []
    if listing.path:
        rows.append('<li><a href="../">../</a></li>')
    entries = sorted(listing.entries, key=lambda e: (not e.is_dir, e.name.lower()))
    for e in entries[:MAX_LISTED]:
        name = e.name + ("/" if e.is_dir else "")
        size = "" if e.is_dir else f" ({e.size} bytes)"
        rows.append(f'<li><a href="{quote(name)}">{html.escape(name)}</a>{size}</li>')
    if len(entries) > MAX_LISTED:
        more = len(entries) - MAX_LISTED
        rows.append(f"<li>… and {more} more, not listed (ask for a file by its path)</li>")
    title = html.escape("/" + listing.path)
    return HTMLResponse(
        f"<!doctype html><title>{title}</title><h1>{title}</h1><ul>{''.join(rows)}</ul>",
        headers={"Content-Security-Policy": "default-src 'none'", "Cache-Control": "no-cache"},
    )


# -- authenticated -----------------------------------------------------------------------


async def download(request: Request) -> Response:
    """GET/HEAD /files/osImages/{fileId}: any signed-in user (every role reads)."""
    await authenticate(request)
    downloads = Downloads(ctx_of(request))
    f = await downloads.stored_file(request.path_params["fid"])
    return await send(request, await downloads.open_file(f))


async def tree(request: Request) -> Response:
    """GET/HEAD /osImages/{imageId}/tree/{path}: a file or folder inside its ISO."""
    await authenticate(request)
    downloads = Downloads(ctx_of(request))
    f = await downloads.image_file(request.path_params["image_id"])
    found = await downloads.tree(f, request.path_params.get("path", ""))
    if isinstance(found, Listing):
        return _listing(request, found)
    return await send(request, found, disposition=False)


def _base(request: Request) -> str:
    configured = ctx_of(request).settings.public_url
    return configured or str(request.base_url)


def _link_json(links: Links, base: str, link: Any) -> dict[str, Any]:
    return {
        "id": str(link.id),
        "fileId": link.file_id,
        "url": links.url(base, link),
        "tree": link.tree,
        "createdBy": link.created_by,
        "created": iso(link.created_at),
        "expires": iso(link.expires_at),
        "revoked": iso(link.revoked_at) if link.revoked_at else "",
        "uses": link.uses,
        "lastUsed": iso(link.last_used_at) if link.last_used_at else "",
    }


async def _make_link(request: Request, *, tree: bool) -> Response:
    user = await authenticate(request, Privilege.EDIT_FILES)
    ctx = ctx_of(request)
    body = await json_body(request) if await _has_body(request) else None
    links = Links(ctx)
    lifetime = links.lifetime(body)
    downloads = Downloads(ctx)
    if tree:
        f = await downloads.image_file(request.path_params["image_id"])
    else:
        f = await downloads.stored_file(request.path_params["fid"])
    issued = await links.issue(user, f, tree=tree, lifetime=lifetime, base=_base(request))
    return envelope(201, **_link_json(links, _base(request), issued.link))


async def make_file_link(request: Request) -> Response:
    """POST /files/osImages/{fileId}/links {"expiresIn": seconds}."""
    return await _make_link(request, tree=False)


async def make_image_link(request: Request) -> Response:
    """POST /osImages/{imageId}/links: a link to the root of the image's tree."""
    return await _make_link(request, tree=True)


async def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    return bool(length and length != "0") or "transfer-encoding" in request.headers


async def list_links(request: Request) -> Response:
    """GET /files/osImages/{fileId}/links."""
    await authenticate(request, Privilege.EDIT_FILES)
    ctx = ctx_of(request)
    links = Links(ctx)
    f = await Downloads(ctx).stored_file(request.path_params["fid"])
    base = _base(request)
    return envelope(links=[_link_json(links, base, k) for k in await links.of_file(f)])


async def revoke_link(request: Request) -> Response:
    """DELETE /files/osImages/{fileId}/links/{linkId}."""
    user = await authenticate(request, Privilege.EDIT_FILES)
    ctx = ctx_of(request)
    f = await Downloads(ctx).stored_file(request.path_params["fid"])
    raw = request.path_params["lid"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise error(Messages.NOT_FOUND, what="Link", name=raw[:40], detail="No such link.")
    await Links(ctx).revoke(user, f, int(raw))
    return envelope()


# -- signed links (no login) -------------------------------------------------------------


async def by_link(request: Request) -> Response:
    """GET/HEAD /links/{token}: the file of a file link."""
    ctx = ctx_of(request)
    link = await Links(ctx).check(request.path_params["token"], tree=False)
    downloads = Downloads(ctx)
    return await send(request, await downloads.open_file(await downloads.stored_file(link.file_id)))


async def by_tree_link(request: Request) -> Response:
    """GET/HEAD /links/{token}/{path}: a file or folder of a tree link's ISO."""
    ctx = ctx_of(request)
    link = await Links(ctx).check(request.path_params["token"], tree=True)
    downloads = Downloads(ctx)
    f = await downloads.stored_file(link.file_id)
    found = await downloads.tree(f, request.path_params.get("path", ""))
    if isinstance(found, Listing):
        return _listing(request, found)
    return await send(request, found, disposition=False)
