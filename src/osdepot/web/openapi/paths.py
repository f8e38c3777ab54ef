"""The paths of the OpenAPI document: every route osdepot serves, with its
parameters, answers and the privilege it needs."""

from __future__ import annotations

from typing import Any

from osdepot.web.openapi.deploy import deploy_paths
from osdepot.web.openapi.downloads import download_paths
from osdepot.web.openapi.parts import (
    DELETE,
    DELETE_SERVERS,
    EDIT,
    JSON,
    SERVERS,
    error_answers,
    json_body,
    op,
    path_param,
    query,
    ref,
    request_body,
)
from osdepot.web.openapi.profiles import profile_paths
from osdepot.web.openapi.resumable import resumable_paths
from osdepot.web.openapi.schemas import IMAGE_TYPES

_JOBS = path_param("ids", "Comma-separated job ids")
_ANY = "any user"


def paths() -> dict[str, Any]:
    envelope_ok = {"200": json_body(ref("Envelope"), "Done")}
    server_ok = {"200": json_body(ref("RemoteServerAnswer"), "The profile")}
    return {
        "/sessions": {
            "post": op(
                "Log in: sets the _sessionId and csrf cookies",
                {"200": json_body({"type": "object"}, "Logged in")},
                (400, 401),
                body=request_body(ref("Login")),
                tag="Sessions",
                public=True,
            ),
            "delete": op("Log out", envelope_ok, (401,), privilege=_ANY, tag="Sessions"),
        },
        "/aicc": {
            "get": op(
                "Appliance name and version; osdepot adds the signed-in user and the "
                "repository's storage (files, images, usedBytes, reservedBytes, freeBytes)",
                {"200": json_body({"type": "object"}, "The appliance")},
                (401,),
                privilege=_ANY,
                tag="Sessions",
            )
        },
        "/osImages": {
            "get": op(
                "List the repository: OS images with profiles, and each group of files",
                {
                    "200": json_body(
                        {"anyOf": [ref("Listing"), ref("ProfileListing")]},
                        "Listing (with an ETag; gzip-encoded for clients that take it)",
                    ),
                    "304": {"description": "If-None-Match names the listing's ETag: unchanged"},
                },
                (400, 401, 403),
                privilege=_ANY,
                params=[
                    query("imageType", "Only OSPROFILE: list OS-image profiles"),
                    query("id", "Comma-separated profile ids (with imageType=OSPROFILE)"),
                ],
            ),
            "post": op(
                "Create an import job (or, with jobId, a remote import as the Ruby client sends)",
                {
                    "201": json_body(
                        {"anyOf": [ref("JobCreated"), ref("FileImported")]}, "Job created"
                    )
                },
                (400, 401, 403, 404, 409, 412),
                privilege=EDIT,
                params=[
                    query(
                        "imageType", "Kind of file (default OS)", enum=IMAGE_TYPES, type="string"
                    ),
                    query("importByContent", "Accepted for UNATTEND and CONFIG"),
                    query("jobId", "With a remote-import body: import into this job"),
                ],
                body=request_body({"anyOf": [ref("ImportJob"), ref("RemoteImport")]}, False),
            ),
            "delete": op(
                "Refused: name the objects to delete in the path",
                {},
                (401, 403, 412),
                privilege=DELETE,
            ),
        },
        **profile_paths(envelope_ok),
        "/files/osImages": {
            "post": op(
                "Upload the job's file (multipart), or import it from a remote file server (JSON)",
                {"201": json_body(ref("FileImported"), "Imported (upload) or started (remote)")},
                (400, 401, 403, 404, 408, 409, 412),
                privilege=EDIT,
                params=[
                    query("jobId", "Job from POST /osImages", required=True),
                    query("imageType", "Defaults to the job's", enum=IMAGE_TYPES, type="string"),
                    query("imageName", "OS image a DUD belongs to; a label for OS media"),
                    query("os", "rhel, centos, rocky, alma, oracle, sles, ubuntu, esxi, windows"),
                    query("osrelease", "Release the file is for"),
                    query("description", "Free text"),
                    query("checksumType", "MD5, SHA1, SHA256, SHA512"),
                    query("checksumValue", "Hex digest"),
                ],
                body={
                    "required": True,
                    "content": {
                        "multipart/form-data": {"schema": ref("Upload")},
                        JSON: {"schema": ref("RemoteImport")},
                    },
                },
            )
        },
        "/osImages/remoteFileServers": {
            "get": op(
                "List remote file-server profiles",
                {"200": json_body(ref("RemoteServerList"), "Profiles")},
                (401, 403),
                privilege=_ANY,
                tag="Remote file servers",
            ),
            "post": op(
                "Create a profile (with serverId: modify it)",
                server_ok,
                (400, 401, 403, 404, 409, 412),
                privilege=SERVERS,
                body=request_body(ref("RemoteServerInput")),
                tag="Remote file servers",
            ),
        },
        "/osImages/remoteFileServers/{id}": {
            "parameters": [path_param("id", "Profile id")],
            "get": op(
                "One profile",
                server_ok,
                (400, 401, 403, 404),
                privilege=_ANY,
                tag="Remote file servers",
            ),
            "put": op(
                "Modify a profile (absent optional fields are kept)",
                server_ok,
                (400, 401, 403, 404, 409, 412),
                privilege=SERVERS,
                body=request_body(ref("RemoteServerInput")),
                tag="Remote file servers",
            ),
            "delete": op(
                "Delete a profile (409 while a job pulls from it)",
                envelope_ok,
                (400, 401, 403, 404, 409),
                privilege=DELETE_SERVERS,
                tag="Remote file servers",
            ),
        },
        "/tasks": {
            "get": op(
                "All jobs, a bare JSON array",
                {"200": json_body(ref("Tasks"), "Jobs")},
                (401, 403),
                privilege=_ANY,
                params=[query("compact", "true drops children")],
                tag="Tasks",
            ),
            "put": op(
                "Cancel jobs",
                {"200": json_body(ref("Tasks"), "The jobs")},
                (400, 401, 403, 404, 412),
                privilege=EDIT,
                body=request_body(ref("Cancel")),
                tag="Tasks",
            ),
        },
        "/tasks/{ids}": {
            "parameters": [_JOBS],
            "get": op(
                "Some jobs, a bare JSON array",
                {"200": json_body(ref("Tasks"), "Jobs")},
                (400, 401, 403, 404, 412),
                privilege=_ANY,
                params=[query("compact", "true drops children")],
                tag="Tasks",
            ),
            "put": op(
                'Cancel jobs with {"cancelRequest": "true"}',
                {"200": json_body(ref("Tasks"), "The jobs")},
                (400, 401, 403, 404, 412),
                privilege=EDIT,
                body=request_body({"type": "object"}),
                tag="Tasks",
            ),
            "delete": op(
                "Remove finished jobs (409 for a running one)",
                envelope_ok,
                (400, 401, 403, 404, 409, 412),
                privilege=EDIT,
                tag="Tasks",
            ),
        },
        "/jobs/{ids}": {
            "parameters": [_JOBS],
            "put": op(
                'Cancel jobs with {"cancelRequest": "true"} (the Ruby client\'s path)',
                {"200": json_body(ref("Tasks"), "The jobs")},
                (400, 401, 403, 404, 412),
                privilege=EDIT,
                body=request_body({"type": "object"}),
                tag="Tasks",
            ),
        },
        "/userAccounts": {
            "get": op(
                "Accounts with their roles and login locks (osdepot extension)",
                {"200": json_body({"type": "object"}, "Accounts")},
                (401, 403),
                privilege="lxc-supervisor role",
                tag="Accounts",
            )
        },
        "/userAccounts/{name}": {
            "parameters": [path_param("name", "User name")],
            "put": op(
                'Lift a login lock with {"unlock": true} (osdepot extension)',
                {"200": json_body({"type": "object"}, "The account")},
                (400, 401, 403, 404),
                privilege="lxc-supervisor role",
                body=request_body(
                    {"type": "object", "properties": {"unlock": {"type": "boolean"}}}
                ),
                tag="Accounts",
            ),
        },
        "/healthz": {
            "get": {
                "summary": "Health for load balancers: catalog, data folder and blob "
                "store (the checks, version and free space only to logged-in users)",
                "tags": ["Operations"],
                "security": [],
                "responses": {
                    "200": json_body({"type": "object"}, "Healthy"),
                    "401": json_body(ref("Failed"), "Credentials were sent and are wrong"),
                    "429": json_body(ref("Failed"), "Too many failed logins from this address"),
                    "503": json_body({"type": "object"}, "Unhealthy: says which check failed"),
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
                    **error_answers(401, 429),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "tags": ["Operations"],
                "security": [],
                "responses": {"200": json_body({"type": "object"}, "OpenAPI 3.1")},
            }
        },
        **download_paths(),
        **resumable_paths(),
        **deploy_paths(),
    }
