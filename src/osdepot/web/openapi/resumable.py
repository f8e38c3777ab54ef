"""The paths of the OpenAPI document for resumable uploads: tus 1.0 and the IETF
draft on one resource (web/resumable.py; the headers of each protocol are described
in docs/api.md, "Resumable uploads")."""

from __future__ import annotations

from typing import Any

from osdepot.web.openapi.parts import EDIT, json_body, op, path_param, query

_TAG = "Resumable uploads"
_ID = path_param("upload_id", "The upload's id (the last part of its Location)")
_NONE = {"description": "Headers only (Upload-Offset, Upload-Length, Upload-Expires, …)"}
_DONE = json_body(
    {
        "type": "object",
        "required": ["result", "messages"],
        "properties": {
            "result": {"type": "string", "enum": ["success"]},
            "jobId": {"type": "string"},
            "fileid": {"type": "string"},
            "imageId": {"type": "string"},
            "messages": {"type": "array"},
        },
    },
    "The last byte arrived and the import was committed (Osdepot-Job-Status: Complete)",
)
_QUERY = [
    query("jobId", "The open import job the upload feeds", required=True),
    query("imageType", "As for POST /files/osImages"),
    query("os", "As for POST /files/osImages"),
    query("imageName", "As for POST /files/osImages"),
    query("checksumType", "The whole file's checksum algorithm (or Upload-Metadata)"),
    query("checksumValue", "The whole file's checksum (or Upload-Metadata)"),
]


def resumable_paths() -> dict[str, Any]:
    return {
        "/files/osImages/uploads": {
            "options": op(
                "What resumable uploads this server supports (Tus-Version, Tus-Extension, "
                "Upload-Limit)",
                {"204": _NONE},
                (),
                tag=_TAG,
                public=True,
            ),
            "post": op(
                "Create a resumable upload for an open import job (tus: Tus-Resumable, "
                "Upload-Length, Upload-Metadata; IETF draft: Upload-Complete); with a body, "
                "its first bytes",
                {"201": {"description": "Created: Location is the upload's URL"}, "200": _DONE},
                (401, 403, 404, 409, 412, 415, 423, 460),
                privilege=EDIT,
                params=_QUERY,
                tag=_TAG,
            ),
        },
        "/files/osImages/uploads/{upload_id}": {
            "options": op(
                "What resumable uploads this server supports",
                {"204": _NONE},
                (),
                params=[_ID],
                tag=_TAG,
                public=True,
            ),
            "get": op(
                "The upload's offset (HEAD or GET; Upload-Offset, Upload-Length)",
                {"200": _NONE},
                (401, 403, 404, 409, 423),
                privilege=EDIT,
                params=[_ID],
                tag=_TAG,
            ),
            "patch": op(
                "Append the body at Upload-Offset (tus: application/offset+octet-stream, "
                "Upload-Checksum; IETF draft: application/partial-upload, Upload-Complete)",
                {"204": _NONE, "200": _DONE},
                (401, 403, 404, 409, 412, 415, 423, 460),
                privilege=EDIT,
                params=[_ID],
                tag=_TAG,
            ),
            "post": op(
                "PATCH for clients behind proxies that refuse it (X-HTTP-Method-Override: PATCH)",
                {"204": _NONE, "200": _DONE},
                (401, 403, 404, 409, 412, 415, 423, 460),
                privilege=EDIT,
                params=[_ID],
                tag=_TAG,
            ),
            "delete": op(
                "End the upload: its job Cancelled, its bytes removed (tus termination)",
                {"204": _NONE},
                (401, 403, 404, 409),
                privilege=EDIT,
                params=[_ID],
                tag=_TAG,
            ),
        },
    }
