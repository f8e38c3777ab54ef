"""Values no catalog stores: PostgreSQL refuses NUL (U+0000) in text, which SQLite
keeps. Whatever part of a request carries one — a path, a query, a JSON body, the
credentials — the answer is a 4xx with a message, never a 500, and nothing changes,
on either catalog."""

from __future__ import annotations

import base64

import pytest
from starlette.testclient import TestClient

from tests.conftest import Api


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


NUL_REQUESTS = [
    ("GET", "/osImages/a%00b", None),
    ("DELETE", "/osImages/a%00b", None),
    ("GET", "/files/osImages/a%00b", None),
    ("POST", "/files/osImages/a%00b/links", {}),
    ("GET", "/osImages/a%00b/tree/x", None),
    ("GET", "/links/1.2.a%00b", None),
    ("GET", "/tasks/1%00", None),
    ("POST", "/osImages/a%00b", {"profile": {"name": "x", "customizationOptions": {}}}),
    ("PUT", "/osImages/a%00b", {"description": "x"}),
    (
        "POST",
        "/osImages/remoteFileServers",
        {
            "displayName": "a\x00b",
            "address": "127.0.0.1",
            "port": 21,
            "protocol": "FTP",
        },
    ),
    (
        "POST",
        "/osImages/customSettings",
        {"customConfigValues": {"content": [{"name": "a", "type": "string", "value": "x\x00y"}]}},
    ),
    ("PUT", "/userAccounts/a%00b", {"unlock": True}),
]


@pytest.mark.parametrize(("method", "path", "body"), NUL_REQUESTS)
def test_nul_anywhere_is_a_clear_refusal(api: Api, method: str, path: str, body: object) -> None:
    before = api.listing()
    r = api.c.request(method, path, json=body)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    assert r.json()["result"] == "failed" and r.json()["messages"][0]["text"]
    assert api.listing() == before


def test_nul_in_credentials_is_a_failed_login(api: Api) -> None:
    r = api.c.post(
        "/sessions",
        json={"UserId": "ad\u0000min", "password": "x"},
        headers={"X-Csrf-Token": ""},
    )
    assert r.status_code in (400, 401), r.text
    token = base64.b64encode(b"ad\x00min:pw").decode()
    with TestClient(api.c.app, base_url="https://testserver") as fresh:
        r = fresh.get("/osImages", headers={"Authorization": f"Basic {token}"})
    assert r.status_code in (400, 401), r.text
