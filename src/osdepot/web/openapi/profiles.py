"""The paths of the OpenAPI document for customised profiles: customising, changing,
exporting and the custom-settings check (web/profiles.py)."""

from __future__ import annotations

from typing import Any

from osdepot.domain.profiles import OPTION_GROUPS
from osdepot.web.openapi.parts import DELETE, EDIT, json_body, op, path_param, query, request_body

_STR = {"type": "string"}
_IDS = path_param("ids", "A profile's or a file's id (DELETE: a comma-separated list)")

_OPTIONS = {
    "type": "object",
    "description": "The files of the profile, by group; a group its OS does not support "
    "is shown as an empty string",
    "properties": {
        g.key: {
            "anyOf": [
                {
                    "type": "object",
                    "properties": {
                        g.ids_key: {
                            "type": "array",
                            "maxItems": g.most,
                            "items": {
                                "anyOf": [
                                    {"type": "string"},
                                    {"type": "object", "properties": {"id": {"type": "string"}}},
                                ]
                            },
                        }
                    },
                },
                {"type": "string", "enum": [""]},
                {"type": "null"},
            ]
        }
        for g in OPTION_GROUPS
    },
}
_PROFILE = {
    "type": "object",
    "required": ["profile"],
    "properties": {
        "profile": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "1-64 letters, digits, space . _ -"},
                "description": {"type": "string"},
                "customizationOptions": _OPTIONS,
            },
        }
    },
}
_FILE_CHANGE = {
    "type": "object",
    "properties": {
        "description": {"type": "string"},
        "version": {"type": "string"},
        "content": {"type": "string", "description": "New text (CONFIG, UNATTEND, SCRIPT)"},
    },
}
_MODIFY = {
    "anyOf": [
        _PROFILE,
        {
            "type": "object",
            "properties": {
                "customConfigFile": _FILE_CHANGE,
                "customUnattendFile": _FILE_CHANGE,
                "customScript": _FILE_CHANGE,
                "customSoftware": _FILE_CHANGE,
                "associatedFileId": {"type": "string"},
                "description": {"type": "string"},
                "version": {"type": "string"},
            },
        },
    ]
}


def _ok(description: str, **props: Any) -> dict[str, Any]:
    return json_body(
        {
            "type": "object",
            "required": ["result", "messages"],
            "properties": {
                "result": {"type": "string", "enum": ["success"]},
                "messages": {"type": "array"},
                **props,
            },
        },
        description,
    )


def profile_paths(envelope_ok: dict[str, Any]) -> dict[str, Any]:
    return {
        "/osImages/{ids}": {
            "parameters": [_IDS],
            "delete": op(
                "Delete OS images (with their profiles), profiles and files",
                envelope_ok,
                (401, 403, 404, 409, 412),
                privilege=DELETE,
            ),
            "get": op(
                "Export a customised profile (a job; the archive is stored as an OSPROFILE "
                "file), or, for a name ending in .tar.gz, download an exported archive "
                "(any user)",
                {
                    "200": {
                        "description": "Export job started, or the archive's bytes",
                        "content": {
                            "application/json": _ok("", jobID=_STR, jobId=_STR)["content"][
                                "application/json"
                            ],
                            "application/octet-stream": {"schema": {"type": "string"}},
                        },
                    },
                    "206": {"description": "A Range of the archive"},
                    "304": {"description": "If-None-Match names the archive's ETag"},
                },
                (400, 401, 403, 404, 409, 412, 416),
                privilege=EDIT,
                params=[
                    query("serverId", "Remote file server to write the archive to"),
                    query("path", "The archive's full path on that server"),
                ],
            ),
            "post": op(
                "Make a customised profile of this profile (predefined or customised)",
                {"201": _ok("Made", id={"type": "string"})},
                (400, 401, 403, 404, 409, 412),
                privilege=EDIT,
                body=request_body(_PROFILE),
            ),
            "put": op(
                "Change a customised profile, or a file's description, version or text",
                {"200": _ok("Changed", id={"type": "string"}, detail={"type": "string"})},
                (400, 401, 403, 404, 409, 412),
                privilege=EDIT,
                params=[query("imageType", "The kind of file the id names (CONFIG, …)")],
                body=request_body(_MODIFY),
            ),
        },
        "/osImages/customSettings": {
            "post": op(
                "Validate custom configuration settings: their macros, or an error report",
                {"200": _ok("Valid", customMacros={"type": "array"})},
                (400, 401, 403, 412),
                privilege=EDIT,
                body=request_body({"type": "object", "properties": {"customConfigValues": {}}}),
            ),
        },
    }
