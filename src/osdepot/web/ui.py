"""The web UI: static files from the package, no build step, nothing from elsewhere.

``/`` is the single page (``ui/index.html``); ``/ui/{name}`` its script and style.
The page talks to the same REST API as every other client.
"""

from __future__ import annotations

import json
from importlib import resources

from starlette.requests import Request
from starlette.responses import Response

from osdepot.domain.images import FAMILIES, LISTING_GROUPS, OS_REQUIRED, TYPE_LABELS
from osdepot.errors import error
from osdepot.messages import Messages
from osdepot.services.import_params import ALGORITHM_LABELS
from osdepot.web.common import ctx_of

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
#: Everything from this server only: no inline script, no CDN, no framing.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _read(name: str) -> bytes | None:
    if "/" in name or "\\" in name or name.startswith(".") or not name:
        return None
    suffix = name[name.rfind(".") :] if "." in name else ""
    if suffix not in _TYPES:
        return None
    f = resources.files("osdepot.web").joinpath("ui", name)
    return f.read_bytes() if f.is_file() else None


def _serve(name: str) -> Response:
    body = _read(name)
    if body is None:
        raise error(Messages.NOT_FOUND, what="File", name=name, detail="There is no such page.")
    return Response(body, media_type=_TYPES[name[name.rfind(".") :]], headers=_HEADERS)


def vocabulary(follow_stall_seconds: float = 120.0) -> bytes:
    """``/ui/vocabulary.js``: the listing groups, image types, OS families and
    checksum algorithms the page offers, as an ES module made from the server's own
    definitions (domain/images.py, services/import_params.py), so that the page
    never lists a type or a group the server does not know."""
    names = {
        "GROUPS": [[g.key, g.title] for g in LISTING_GROUPS],
        "TYPES": [[t.value, TYPE_LABELS[t]] for t in TYPE_LABELS],
        "OSES": [["", "(from the file)"], *([f.name, f.display] for f in FAMILIES.values())],
        "CHECKSUMS": [["", "none"], *([k, ALGORITHM_LABELS[k]] for k in ALGORITHM_LABELS)],
        "OS_REQUIRED": sorted(t.value for t in OS_REQUIRED),
        # how long the page follows a job that shows no change (OSDEPOT_UI_FOLLOW_STALL_SECONDS)
        "FOLLOW_STALL_SECONDS": follow_stall_seconds,
    }
    lines = [f"export const {k} = {json.dumps(v)};" for k, v in names.items()]
    head = "// Made by the server from its own definitions (web/ui.py).\n"
    return (head + "\n".join(lines) + "\n").encode()


async def index(_request: Request) -> Response:
    return _serve("index.html")


async def asset(request: Request) -> Response:
    name = str(request.path_params["name"])
    if name == "vocabulary.js":
        stall = ctx_of(request).settings.ui_follow_stall_seconds
        return Response(vocabulary(stall), media_type=_TYPES[".js"], headers=_HEADERS)
    return _serve(name)
