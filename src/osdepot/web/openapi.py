"""The OpenAPI 3.1 document of the LXCA OS-images endpoints osdepot serves.

Written by hand from the contract (``docs/api.md``): the endpoints are LXCA's, not
generated from Python types. ``GET /openapi.json`` serves it without authentication;
a test checks that it is a valid OpenAPI document and that every route of the
application is in it, and the reverse.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from osdepot import __version__
from osdepot.domain.images import LISTING_GROUPS, TYPE_ALIASES, ImageType
from osdepot.domain.roles import Privilege
from osdepot.errors import Message, Messages

JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    """Error answers: always the failed envelope with one message. Every operation can
    answer 400 (a malformed request), 500 (with a message) and 503 (the catalog stayed
    busy); those that need a login also 401."""
    words = {
        400: "Invalid request (a value, the body or the content of the file)",
        401: "Not authenticated, the session expired, or the account is locked",
        403: "The user's role lacks the privilege, or the CSRF token is missing or wrong",
        404: "No such object",
        405: "Method not supported on this path",
        408: "The upload arrived too slowly (FQXHMFC9030J)",
        409: "Clash with the repository's state",
        412: "A required parameter is missing or a precondition failed",
        413: "The JSON body is larger than 1 MiB (FQXHMFC9032J)",
        415: "The body is not sent as application/json (FQXHMFC9033J)",
        429: "Too many failed logins from this address (FQXHMSE9008J); see Retry-After",
        500: "Internal error (with a message)",
        503: "The catalog stayed busy (FQXHMFC9031M), or too many password checks are "
        "waiting (FQXHMSE9009J); try again after Retry-After",
    }
    return {str(c): _json(_ref("Failed"), words[c]) for c in sorted({*codes, 400, 500, 503})}


def _op(
    summary: str,
    ok: dict[str, Any],
    errors: tuple[int, ...],
    *,
    privilege: str = "",
    params: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    tag: str = "OS images",
    public: bool = False,
) -> dict[str, Any]:
    more: tuple[int, ...] = (413, 415) if body else ()
    more += () if public else (429,)
    op: dict[str, Any] = {
        "summary": summary,
        "tags": [tag],
        "responses": {**ok, **_errors(*errors, *more)},
    }
    if privilege:
        op["description"] = f"Privilege: `{privilege}`."
    if params:
        op["parameters"] = params
    if body:
        op["requestBody"] = body
    if public:
        op["security"] = []
    return op


def _q(name: str, description: str, *, required: bool = False, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def _path(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "minLength": 1},
    }


def _body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {JSON: {"schema": schema}}}


# From the one definition of each (domain/): privileges, image types (with the accepted
# alias CUSTOM_CONFIG).
_EDIT = Privilege.EDIT_FILES.value
_DELETE = Privilege.DELETE_FILES.value
_SERVERS = Privilege.EDIT_REMOTE_SERVERS.value
_DELETE_SERVERS = Privilege.DELETE_REMOTE_SERVERS.value

_IMAGE_TYPES = sorted([*(t.value for t in ImageType), *TYPE_ALIASES])

_SCHEMAS: dict[str, Any] = {
    "Message": {
        "type": "object",
        "required": ["id", "text", "explanation", "recovery"],
        "properties": {
            "id": {"type": "string", "description": "FQXHM… message id"},
            "text": {"type": "string"},
            "explanation": {"type": "string"},
            "recovery": {
                "type": "object",
                "required": ["text", "URL"],
                "properties": {"text": {"type": "string"}, "URL": {"type": "string"}},
            },
        },
    },
    "Envelope": {
        "type": "object",
        "required": ["result", "messages"],
        "properties": {
            "result": {"type": "string", "enum": ["success"]},
            "messages": {"type": "array", "items": _ref("Message")},
        },
    },
    "Failed": {
        "type": "object",
        "required": ["result", "messages"],
        "properties": {
            "result": {"type": "string", "enum": ["failed"]},
            "messages": {"type": "array", "minItems": 1, "items": _ref("Message")},
        },
    },
    "Login": {
        "type": "object",
        "required": ["UserId", "password"],
        "properties": {"UserId": {"type": "string"}, "password": {"type": "string"}},
    },
    "JobCreated": {
        "type": "object",
        "required": ["result", "jobId", "messages"],
        "properties": {
            "result": {"type": "string", "enum": ["success"]},
            "jobId": {"type": "string"},
            "messages": {"type": "array", "items": _ref("Message")},
        },
    },
    "FileImported": {
        "type": "object",
        "required": ["result", "messages"],
        "properties": {
            "result": {"type": "string", "enum": ["success"]},
            "fileid": {"type": "string", "description": "Id of the stored file (uploads)"},
            "imageId": {"type": "string", "description": "OS image id (OS media)"},
            "jobId": {"type": "string", "description": "The job of a remote import"},
            "taskId": {"type": "string"},
            "messages": {"type": "array", "items": _ref("Message")},
        },
    },
    "StoredFile": {
        "type": "object",
        "required": ["id", "name", "type", "size"],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "description": {"type": "string"},
            "type": {"type": "string"},
            "os": {"type": "string"},
            "osrelease": {"type": "string"},
            "size": {"type": "integer", "minimum": 0},
            "sha256": {"type": "string"},
            "checksums": {"type": "object", "additionalProperties": {"type": "string"}},
            "importedBy": {"type": "string"},
            "importedAt": {"type": "string"},
        },
    },
    "Profile": {
        "type": "object",
        "required": ["id", "name"],
        "properties": {
            "id": {"type": "string", "description": "{imageId}|{imageId}-{arch}-install-{Profile}"},
            "name": {"type": "string"},
            "profile": {"type": "string"},
            "type": {"type": "string"},
            "description": {"type": "string"},
            "osImageId": {"type": "string"},
        },
    },
    "OsImage": {
        "type": "object",
        "required": ["id", "name", "type", "profiles"],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "description": {"type": "string"},
            "os": {"type": "string"},
            "osrelease": {"type": "string"},
            "version": {"type": "string"},
            "arch": {"type": "string"},
            "type": {"type": "string", "enum": ["OS"]},
            "deployStatus": {"type": "string"},
            "osBuildId": {"type": "string"},
            "editions": {"type": "array"},
            "variants": {"type": "array"},
            "size": {"type": "integer"},
            "sha256": {"type": "string"},
            "profiles": {"type": "array", "items": _ref("Profile")},
        },
    },
    "Listing": {
        "type": "object",
        "required": ["result", "messages", "items"],
        "properties": {
            "result": {"type": "string", "enum": ["success"]},
            "messages": {"type": "array", "items": _ref("Message")},
            "items": {"type": "array", "items": _ref("OsImage")},
            **{g.key: {"type": "array", "items": _ref("StoredFile")} for g in LISTING_GROUPS},
            "supportedImages": {"type": "array"},
        },
    },
    "ProfileListing": {
        "type": "object",
        "required": ["result", "messages"],
        "description": "The answer to imageType=OSPROFILE: the OS images holding the profiles.",
    },
    "ImportJob": {
        "type": "object",
        "properties": {
            "Action": {"type": "string", "description": "init (any case)"},
            "fileSize": {
                "oneOf": [{"type": "integer", "minimum": 0}, {"type": "string"}],
                "description": "Size in bytes of the file to come",
            },
        },
        "required": ["Action"],
    },
    "RemoteImport": {
        "type": "object",
        "required": ["serverId", "path"],
        "properties": {
            "serverId": {"type": "string"},
            "path": {"type": "string", "description": "Path of the file on the remote server"},
            "checksumType": {"type": "string"},
            "checksumValue": {"type": "string"},
        },
    },
    "Upload": {
        "type": "object",
        "required": ["uploadedfile"],
        "properties": {
            "uploadedfile": {"type": "string", "format": "binary"},
            "checksumType": {"type": "string", "enum": ["MD5", "SHA1", "SHA256", "SHA512"]},
            "checksumValue": {"type": "string"},
        },
    },
    "RemoteServerInput": {
        "type": "object",
        "required": ["address", "port", "protocol"],
        "properties": {
            "serverId": {"type": "string", "description": "Modify this profile instead"},
            "displayName": {"type": "string"},
            "address": {"type": "string"},
            "port": {"oneOf": [{"type": "integer"}, {"type": "string"}]},
            "protocol": {"type": "string", "enum": ["HTTP", "HTTPS", "FTP", "SFTP"]},
            "username": {"type": "string"},
            "password": {"type": "string", "writeOnly": True},
            "keyType": {
                "type": "string",
                "enum": ["RSA-2048", "RSA-4096", "ECDSA-521-secp521r1"],
            },
            "keyPassphrase": {"type": "string", "writeOnly": True},
            "keyPassphras": {"type": "string", "writeOnly": True},
            "keyComment": {"type": "string"},
            "caCertificate": {"type": "string"},
            "hostKeyFingerprint": {"type": "string"},
            "resetHostKey": {"type": "boolean"},
        },
    },
    "RemoteServer": {
        "type": "object",
        "required": ["serverId", "displayName", "address", "port", "protocol"],
        "properties": {
            "serverId": {"type": "string"},
            "displayName": {"type": "string"},
            "address": {"type": "string"},
            "port": {"type": "integer"},
            "protocol": {"type": "string"},
            "username": {"type": "string"},
            "keyType": {"type": "string"},
            "serverPublicKey": {"type": "string"},
            "keySignature": {"type": "string"},
        },
    },
    "RemoteServerAnswer": {
        "allOf": [_ref("RemoteServer"), _ref("Envelope")],
    },
    "RemoteServerList": {
        "type": "object",
        "required": ["result", "serverList", "messages"],
        "properties": {
            "result": {"type": "string", "enum": ["success"]},
            "serverList": {"type": "array", "items": _ref("RemoteServer")},
            "messages": {"type": "array", "items": _ref("Message")},
        },
    },
    "Task": {
        "type": "object",
        "required": ["jobUID", "id", "status", "percentage", "complete"],
        "properties": {
            "jobUID": {"type": "string"},
            "id": {"type": "string"},
            "uuid": {"type": "string"},
            "status": {
                "type": "string",
                "enum": ["Pending", "Running", "Complete", "Stopped", "Cancelled"],
            },
            "percentage": {"type": "integer", "minimum": 0, "maximum": 100},
            "complete": {"type": "boolean"},
            "createdBy": {"type": "string"},
            "isCancelable": {"type": "boolean"},
            "startTime": {"type": "string"},
            "endTime": {"type": "string"},
            "fileName": {"type": "string"},
            "fileSize": {"type": ["integer", "null"]},
            "bytesReceived": {"type": "integer"},
            "messageID": {"type": "string"},
            "messageDisplay": {"type": "string"},
            "messages": {"type": "array", "items": _ref("Message")},
            "children": {"type": "array"},
        },
    },
    "Tasks": {"type": "array", "items": _ref("Task")},
    "Cancel": {
        "type": "object",
        "required": ["action", "list"],
        "properties": {
            "action": {"type": "string", "enum": ["cancel"]},
            "list": {"type": "array", "items": {"type": "string"}},
        },
    },
}

_JOBS = _path("ids", "Comma-separated job ids")
_ANY = "any user"


def _paths() -> dict[str, Any]:
    envelope_ok = {"200": _json(_ref("Envelope"), "Done")}
    server_ok = {"200": _json(_ref("RemoteServerAnswer"), "The profile")}
    return {
        "/sessions": {
            "post": _op(
                "Log in: sets the _sessionId and csrf cookies",
                {"200": _json({"type": "object"}, "Logged in")},
                (400, 401),
                body=_body(_ref("Login")),
                tag="Sessions",
                public=True,
            ),
            "delete": _op("Log out", envelope_ok, (401,), privilege=_ANY, tag="Sessions"),
        },
        "/aicc": {
            "get": _op(
                "Appliance name and version",
                {"200": _json({"type": "object"}, "The appliance")},
                (401,),
                privilege=_ANY,
                tag="Sessions",
            )
        },
        "/osImages": {
            "get": _op(
                "List the repository: OS images with profiles, and each group of files",
                {"200": _json({"anyOf": [_ref("Listing"), _ref("ProfileListing")]}, "Listing")},
                (400, 401, 403),
                privilege=_ANY,
                params=[
                    _q("imageType", "Only OSPROFILE: list OS-image profiles"),
                    _q("id", "Comma-separated profile ids (with imageType=OSPROFILE)"),
                ],
            ),
            "post": _op(
                "Create an import job (or, with jobId, a remote import as the Ruby client sends)",
                {
                    "201": _json(
                        {"anyOf": [_ref("JobCreated"), _ref("FileImported")]}, "Job created"
                    )
                },
                (400, 401, 403, 404, 409, 412),
                privilege=_EDIT,
                params=[
                    _q("imageType", "Kind of file (default OS)", enum=_IMAGE_TYPES, type="string"),
                    _q("importByContent", "Accepted for UNATTEND and CONFIG"),
                    _q("jobId", "With a remote-import body: import into this job"),
                ],
                body=_body({"anyOf": [_ref("ImportJob"), _ref("RemoteImport")]}, False),
            ),
            "delete": _op(
                "Refused: name the objects to delete in the path",
                {},
                (401, 403, 412),
                privilege=_DELETE,
            ),
        },
        "/osImages/{ids}": {
            "parameters": [_path("ids", "Comma-separated object ids (OS images, files)")],
            "delete": _op(
                "Delete OS images (with their profiles) and files",
                envelope_ok,
                (401, 403, 404, 409, 412),
                privilege=_DELETE,
            ),
            "get": _op(
                "Export a customised profile: not supported by osdepot (no custom profiles)",
                {},
                (400, 401, 403, 404, 412),
                privilege=_EDIT,
            ),
            "post": _op(
                "Create a customised profile: not supported by osdepot",
                {},
                (400, 401, 403, 404, 412),
                privilege=_EDIT,
            ),
            "put": _op(
                "Modify a customised profile: not supported by osdepot",
                {},
                (400, 401, 403, 404, 412),
                privilege=_EDIT,
            ),
        },
        "/files/osImages": {
            "post": _op(
                "Upload the job's file (multipart), or import it from a remote file server (JSON)",
                {"201": _json(_ref("FileImported"), "Imported (upload) or started (remote)")},
                (400, 401, 403, 404, 408, 409, 412),
                privilege=_EDIT,
                params=[
                    _q("jobId", "Job from POST /osImages", required=True),
                    _q("imageType", "Defaults to the job's", enum=_IMAGE_TYPES, type="string"),
                    _q("imageName", "OS image a DUD belongs to; a label for OS media"),
                    _q("os", "rhel, centos, rocky, alma, oracle, sles, ubuntu, esxi, windows"),
                    _q("osrelease", "Release the file is for"),
                    _q("description", "Free text"),
                    _q("checksumType", "MD5, SHA1, SHA256, SHA512"),
                    _q("checksumValue", "Hex digest"),
                ],
                body={
                    "required": True,
                    "content": {
                        "multipart/form-data": {"schema": _ref("Upload")},
                        JSON: {"schema": _ref("RemoteImport")},
                    },
                },
            )
        },
        "/osImages/remoteFileServers": {
            "get": _op(
                "List remote file-server profiles",
                {"200": _json(_ref("RemoteServerList"), "Profiles")},
                (401, 403),
                privilege=_ANY,
                tag="Remote file servers",
            ),
            "post": _op(
                "Create a profile (with serverId: modify it)",
                server_ok,
                (400, 401, 403, 404, 409, 412),
                privilege=_SERVERS,
                body=_body(_ref("RemoteServerInput")),
                tag="Remote file servers",
            ),
        },
        "/osImages/remoteFileServers/{id}": {
            "parameters": [_path("id", "Profile id")],
            "get": _op(
                "One profile",
                server_ok,
                (400, 401, 403, 404),
                privilege=_ANY,
                tag="Remote file servers",
            ),
            "put": _op(
                "Modify a profile (absent optional fields are kept)",
                server_ok,
                (400, 401, 403, 404, 409, 412),
                privilege=_SERVERS,
                body=_body(_ref("RemoteServerInput")),
                tag="Remote file servers",
            ),
            "delete": _op(
                "Delete a profile (409 while a job pulls from it)",
                envelope_ok,
                (400, 401, 403, 404, 409),
                privilege=_DELETE_SERVERS,
                tag="Remote file servers",
            ),
        },
        "/tasks": {
            "get": _op(
                "All jobs, a bare JSON array",
                {"200": _json(_ref("Tasks"), "Jobs")},
                (401, 403),
                privilege=_ANY,
                params=[_q("compact", "true drops children")],
                tag="Tasks",
            ),
            "put": _op(
                "Cancel jobs",
                {"200": _json(_ref("Tasks"), "The jobs")},
                (400, 401, 403, 404, 412),
                privilege=_EDIT,
                body=_body(_ref("Cancel")),
                tag="Tasks",
            ),
        },
        "/tasks/{ids}": {
            "parameters": [_JOBS],
            "get": _op(
                "Some jobs, a bare JSON array",
                {"200": _json(_ref("Tasks"), "Jobs")},
                (400, 401, 403, 404),
                privilege=_ANY,
                params=[_q("compact", "true drops children")],
                tag="Tasks",
            ),
            "put": _op(
                'Cancel jobs with {"cancelRequest": "true"}',
                {"200": _json(_ref("Tasks"), "The jobs")},
                (400, 401, 403, 404, 412),
                privilege=_EDIT,
                body=_body({"type": "object"}),
                tag="Tasks",
            ),
            "delete": _op(
                "Remove finished jobs (409 for a running one)",
                envelope_ok,
                (400, 401, 403, 404, 409, 412),
                privilege=_EDIT,
                tag="Tasks",
            ),
        },
        "/jobs/{ids}": {
            "parameters": [_JOBS],
            "put": _op(
                'Cancel jobs with {"cancelRequest": "true"} (the Ruby client\'s path)',
                {"200": _json(_ref("Tasks"), "The jobs")},
                (400, 401, 403, 404, 412),
                privilege=_EDIT,
                body=_body({"type": "object"}),
                tag="Tasks",
            ),
        },
        "/userAccounts": {
            "get": _op(
                "Accounts with their roles and login locks (osdepot extension)",
                {"200": _json({"type": "object"}, "Accounts")},
                (401, 403),
                privilege="lxc-supervisor role",
                tag="Accounts",
            )
        },
        "/userAccounts/{name}": {
            "parameters": [_path("name", "User name")],
            "put": _op(
                'Lift a login lock with {"unlock": true} (osdepot extension)',
                {"200": _json({"type": "object"}, "The account")},
                (400, 401, 403, 404),
                privilege="lxc-supervisor role",
                body=_body({"type": "object", "properties": {"unlock": {"type": "boolean"}}}),
                tag="Accounts",
            ),
        },
        "/healthz": {
            "get": {
                "summary": "Health for load balancers: catalog and data folder (the "
                "checks, version and free space only to logged-in users)",
                "tags": ["Operations"],
                "security": [],
                "responses": {
                    "200": _json({"type": "object"}, "Healthy"),
                    "401": _json(_ref("Failed"), "Credentials were sent and are wrong"),
                    "429": _json(_ref("Failed"), "Too many failed logins from this address"),
                    "503": _json({"type": "object"}, "Unhealthy: says which check failed"),
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics, osdepot_* (any logged-in user; without a "
                "login only with OSDEPOT_METRICS_PUBLIC)",
                "tags": ["Operations"],
                "responses": {
                    "200": {
                        "description": "Text exposition format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    **_errors(401, 429),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "tags": ["Operations"],
                "security": [],
                "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1")},
            }
        },
    }


def _message_ids() -> list[str]:
    return sorted({v.id for v in vars(Messages).values() if isinstance(v, Message)})


@cache
def build() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "osdepot — LXCA OS-images API",
            "version": __version__,
            "description": (
                "The OS-images repository API of Lenovo XClarity Administrator, as osdepot "
                "serves it. Every collection path also answers with a trailing slash. "
                "Every answer, errors included, is JSON; an error is "
                '{"result": "failed", "messages": [message]}. Authentication: a session '
                "from POST /sessions (cookie _sessionId, and the csrf cookie's value in the "
                "X-Csrf-Token header of POST, PUT and DELETE), or HTTP Basic on any request. "
                f"Error message ids: {', '.join(_message_ids())}."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"basic": []}, {"session": [], "csrf": []}],
        "components": {
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic"},
                "session": {"type": "apiKey", "in": "cookie", "name": "_sessionId"},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-Csrf-Token"},
            },
            "schemas": _SCHEMAS,
        },
        "paths": _paths(),
    }


async def document(_request: Request) -> Response:
    return Response(
        json.dumps(build(), indent=1), media_type=JSON, headers={"Cache-Control": "no-cache"}
    )
