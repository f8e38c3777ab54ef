"""Values no catalog stores: PostgreSQL refuses NUL (U+0000) in text, which SQLite
keeps, and neither driver can encode half a UTF-16 surrogate pair. Whatever part of a
request carries one — a path, a query, a JSON body, the credentials — the answer is a
4xx with a message, never a 500, and nothing changes, on either catalog."""

from __future__ import annotations

import base64
import json

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


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/sessions", b'{"UserId": "admin", "password": NaN}'),
        ("POST", "/osImages?imageType=SCRIPT", b'{"Action": "Init", "fileSize": Infinity}'),
        ("POST", "/files/osImages/{fid}/links", b'{"expiresIn": NaN}'),
        ("POST", "/files/osImages/{fid}/links", b'{"expiresIn": Infinity}'),
        ("PUT", "/osdeployment/globalSettings", b'{"deploySettings": {"x": -Infinity}}'),
    ],
)
def test_nan_and_infinity_are_not_json(api: Api, method: str, path: str, body: bytes) -> None:
    """Python's json reads NaN and Infinity, which JSON does not have: a link's
    expiresIn of NaN passed every check, was stored, and its listing was a 500."""
    fid = api.import_file("SCRIPT", "p.sh", b"#!/bin/sh\necho\n", os="rhel")
    before = api.listing()
    r = api.c.request(
        method, path.format(fid=fid), content=body, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400, r.text
    assert "is not a JSON value" in r.json()["messages"][0]["explanation"], r.text
    assert api.listing() == before
    assert api.c.get(f"/files/osImages/{fid}/links").status_code == 200


def _server(name: str, **more: object) -> dict[str, object]:
    return {"displayName": name, "address": "127.0.0.1", "protocol": "FTP", **more}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        # the escape of half a UTF-16 pair, in a value and in a key
        ("POST", "/osImages/remoteFileServers", json.dumps(_server("\ud800")).encode()),
        ("POST", "/sessions", b'{"UserId": "admin", "password": "x\\udfffy"}'),
        (
            "PUT",
            "/osdeployment/globalSettings",
            b'{"licenseKeys": {"win2019r1": {"\\uDC00": "AAAAA"}}}',
        ),
        # the same as bytes: UTF-8's form of a surrogate (which json.loads lets through),
        # and a UTF-16 body
        (
            "POST",
            "/osImages/remoteFileServers",
            b'{"displayName": "x", "address": "127.0.0.1", "protocol": "SFTP", '
            b'"username": "\xed\xa0\x80"}',
        ),
        (
            "POST",
            "/osImages/remoteFileServers",
            '{"displayName": "\ud83d", "address": "127.0.0.1", "protocol": "FTP"}'.encode(
                "utf-16-le", "surrogatepass"
            ),
        ),
    ],
)
def test_unpaired_surrogates_are_not_text(api: Api, method: str, path: str, body: bytes) -> None:
    """A JSON string may escape half of a UTF-16 surrogate pair on its own, which is no
    character: a remote server named so, or a login with such a password, was a 500
    (the catalog's driver cannot encode it). Refused as JSON that is not text."""
    servers = api.c.get("/osImages/remoteFileServers").json()
    before = api.listing()
    r = api.c.request(method, path, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert "unpaired UTF-16 surrogate" in r.json()["messages"][0]["explanation"], r.text
    assert api.c.get("/osImages/remoteFileServers").json() == servers
    assert api.listing() == before
    # a whole pair, escaped, is one character and is kept
    r = api.c.post(
        "/osImages/remoteFileServers",
        content=json.dumps(_server("rocket \U0001f680")).encode(),  # "\ud83d\ude80"
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["displayName"] == "rocket \U0001f680"
