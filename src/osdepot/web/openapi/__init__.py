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
from osdepot.messages import Message, Messages
from osdepot.web.openapi.parts import JSON
from osdepot.web.openapi.paths import paths
from osdepot.web.openapi.schemas import SCHEMAS


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
            "schemas": SCHEMAS,
        },
        "paths": paths(),
    }


@cache
def _rendered() -> bytes:
    """The document as sent: made once per process and shared by every answer (217 KB;
    with web/pieces.py a client that does not read holds one piece of it, not a copy)."""
    return json.dumps(build(), indent=1).encode()


async def document(_request: Request) -> Response:
    return Response(_rendered(), media_type=JSON, headers={"Cache-Control": "no-cache"})
