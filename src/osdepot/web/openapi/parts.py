"""The pieces the OpenAPI document is written with: references, bodies, parameters,
error answers and operations."""

from __future__ import annotations

from typing import Any

from osdepot.domain.roles import Privilege

JSON = "application/json"


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def error_answers(*codes: int) -> dict[str, Any]:
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
        416: "The Range is malformed or outside the file (FQXHMFC9040J); Content-Range "
        "says the file's size",
        423: "Another request is appending to the resumable upload (FQXHMFC9060J)",
        460: "The bytes sent do not match Upload-Checksum; they were dropped (FQXHMFC9058J)",
        429: "Too many failed logins from this address (FQXHMSE9008J); see Retry-After",
        500: "Internal error (with a message)",
        503: "The catalog stayed busy (FQXHMFC9031M), or too many password checks are "
        "waiting (FQXHMSE9009J); try again after Retry-After",
    }
    return {str(c): json_body(ref("Failed"), words[c]) for c in sorted({*codes, 400, 500, 503})}


def op(
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
    operation: dict[str, Any] = {
        "summary": summary,
        "tags": [tag],
        "responses": {**ok, **error_answers(*errors, *more)},
    }
    if privilege:
        operation["description"] = f"Privilege: `{privilege}`."
    if params:
        operation["parameters"] = params
    if body:
        operation["requestBody"] = body
    if public:
        operation["security"] = []
    return operation


def query(name: str, description: str, *, required: bool = False, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def path_param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "minLength": 1},
    }


def request_body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {JSON: {"schema": schema}}}


# From the one definition of each (domain/): privileges, image types (with the accepted
# alias CUSTOM_CONFIG).
EDIT = Privilege.EDIT_FILES.value
DELETE = Privilege.DELETE_FILES.value
SERVERS = Privilege.EDIT_REMOTE_SERVERS.value
DELETE_SERVERS = Privilege.DELETE_REMOTE_SERVERS.value
