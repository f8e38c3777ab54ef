"""The paths of the OpenAPI document that get files out: downloads, installation
trees and signed links (web/downloads.py)."""

from __future__ import annotations

from typing import Any

from osdepot.web.openapi.parts import EDIT, json_body, op, path_param, request_body

_BYTES = {
    "200": {
        "description": "The bytes (Content-Length, Accept-Ranges, ETag, Last-Modified, "
        "Content-Disposition; Repr-Digest for a stored file)",
        "content": {"application/octet-stream": {"schema": {"type": "string"}}},
    },
    "206": {
        "description": "The Range asked for: one piece, or multipart/byteranges",
        "content": {"application/octet-stream": {"schema": {"type": "string"}}},
    },
    "304": {"description": "If-None-Match names the file's ETag"},
}
_LINK = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "fileId": {"type": "string"},
        "url": {"type": "string", "description": "Absolute; works without login"},
        "tree": {"type": "boolean", "description": "The URL is the root of an install tree"},
        "expires": {"type": "string"},
        "uses": {"type": "integer"},
    },
}
_LIFETIME = request_body(
    {
        "type": "object",
        "properties": {
            "expiresIn": {
                "type": "number",
                "description": "Seconds (default OSDEPOT_LINK_DEFAULT_SECONDS, at most "
                "OSDEPOT_LINK_MAX_SECONDS)",
            }
        },
    },
    required=False,
)
_FID = path_param("fid", "A stored file's id (GET /osImages lists them)")
_IMAGE = path_param("image_id", "An OS image's id")
_TOKEN = path_param("token", "The signed token of the link")
_PATH = path_param("path", "A path inside the installation tree")


def download_paths() -> dict[str, Any]:
    return {
        "/files/osImages/{fid}": {
            "get": op(
                "Download a stored file (GET or HEAD; Range, If-Range, If-None-Match)",
                _BYTES,
                (401, 404, 416),
                privilege="any user",
                params=[_FID],
                tag="Downloads",
            )
        },
        "/files/osImages/{fid}/links": {
            "get": op(
                "List the file's signed links",
                {"200": json_body({"type": "object"}, "links: […]")},
                (401, 403, 404),
                privilege=EDIT,
                params=[_FID],
                tag="Downloads",
            ),
            "post": op(
                "Make a signed link to the file (for installers and BMCs)",
                {"201": json_body(_LINK, "The link")},
                (401, 403, 404),
                privilege=EDIT,
                params=[_FID],
                body=_LIFETIME,
                tag="Downloads",
            ),
        },
        "/files/osImages/{fid}/links/{lid}": {
            "delete": op(
                "Revoke a signed link",
                {"200": json_body({"type": "object"}, "Revoked")},
                (401, 403, 404),
                privilege=EDIT,
                params=[_FID, path_param("lid", "The link's id")],
                tag="Downloads",
            )
        },
        "/osImages/{image_id}/links": {
            "post": op(
                "Make a signed link to the installation tree of an OS image",
                {"201": json_body(_LINK, "The link; its url is the root of the tree")},
                (401, 403, 404),
                privilege=EDIT,
                params=[_IMAGE],
                body=_LIFETIME,
                tag="Downloads",
            )
        },
        "/osImages/{image_id}/tree/{path}": {
            "get": op(
                "A file of the OS image's installation tree, read out of its ISO (a folder "
                "answers an HTML listing)",
                _BYTES,
                (401, 404, 416),
                privilege="any user",
                params=[_IMAGE, _PATH],
                tag="Downloads",
            )
        },
        "/links/{token}": {
            "get": op(
                "The file of a signed link (GET or HEAD, Range; no login)",
                _BYTES,
                (404, 416),
                params=[_TOKEN],
                tag="Downloads",
                public=True,
            )
        },
        "/links/{token}/{path}": {
            "get": op(
                "A file of the installation tree of a signed tree link (no login)",
                _BYTES,
                (404, 416),
                params=[_TOKEN, _PATH],
                tag="Downloads",
                public=True,
            )
        },
    }
