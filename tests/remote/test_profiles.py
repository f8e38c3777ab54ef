"""Remote file-server profiles as the contract §5 describes them."""

from __future__ import annotations

import pytest

from tests.conftest import Api
from tests.remote.conftest import register

BASE = {"address": "10.20.0.15", "port": 21, "protocol": "FTP", "displayName": "isos"}


def test_create_list_get_update_delete(api: Api) -> None:
    srv = register(api, **BASE, username="guest", password="Passw0rd")
    sid = srv["serverId"]
    assert srv["result"] == "success" and srv["messages"] == []
    assert (srv["displayName"], srv["address"], srv["port"], srv["protocol"]) == (
        "isos", "10.20.0.15", 21, "FTP",
    )  # fmt: skip
    listed = api.c.get("/osImages/remoteFileServers").json()
    assert [s["serverId"] for s in listed["serverList"]] == [sid]
    assert api.c.get(f"/osImages/remoteFileServers/{sid}").json()["username"] == "guest"
    r = api.c.put(f"/osImages/remoteFileServers/{sid}", json={**BASE, "displayName": "isos2"})
    assert r.status_code == 200 and r.json()["displayName"] == "isos2"
    assert r.json()["hasPassword"] is True  # absent password: kept
    assert r.json()["username"] == "guest"  # absent optional fields: kept
    assert "droppedSecrets" not in r.json() and r.json()["messages"] == []
    # Another port: the password stored for the old one is not kept unless sent again.
    r = api.c.put(
        f"/osImages/remoteFileServers/{sid}", json={**BASE, "port": 2121, "displayName": "isos2"}
    )
    assert r.status_code == 200 and r.json()["port"] == 2121
    assert r.json()["hasPassword"] is False and r.json()["droppedSecrets"] == ["password"]
    assert r.json()["messages"][0]["id"] == "FQXHMFC9035I"
    r = api.c.put(
        f"/osImages/remoteFileServers/{sid}",
        json={**BASE, "port": 2121, "displayName": "isos2", "password": "Passw0rd"},
    )
    assert r.json()["hasPassword"] is True and "droppedSecrets" not in r.json()
    # POST with a serverId modifies that profile (contract §5.3).
    r = api.c.post("/osImages/remoteFileServers", json={**BASE, "serverId": sid, "password": ""})
    assert r.status_code == 200 and r.json()["serverId"] == sid
    assert r.json()["hasPassword"] is False  # empty password: cleared
    r = api.c.request("DELETE", f"/osImages/remoteFileServers/{sid}")
    assert r.status_code == 200 and r.json() == {"result": "success", "messages": []}
    assert api.c.get(f"/osImages/remoteFileServers/{sid}").status_code == 404
    assert api.c.request("DELETE", f"/osImages/remoteFileServers/{sid}").status_code == 404
    assert api.c.put(f"/osImages/remoteFileServers/{sid}", json=BASE).status_code == 404


def test_display_names_are_unique(api: Api) -> None:
    register(api, **BASE)
    r = api.c.post("/osImages/remoteFileServers", json={**BASE, "address": "10.0.0.2"})
    assert r.status_code == 400 and "already exists" in r.json()["messages"][0]["explanation"]
    assert len(api.c.get("/osImages/remoteFileServers").json()["serverList"]) == 1


@pytest.mark.parametrize(
    "body",
    [
        {**BASE, "protocol": "SMB"},
        {**BASE, "port": 0},
        {**BASE, "port": "ftp"},
        {**BASE, "address": "bad host/x"},
        {**BASE, "address": ""},
        {**BASE, "keyType": "RSA-2048"},  # keys are for SFTP only
        {**BASE, "protocol": "SFTP", "keyType": "DSA-1024", "username": "u"},
        {**BASE, "protocol": "SFTP"},  # no user name to log in as
        {**BASE, "protocol": "SFTP", "hostKeyFingerprint": "md5:aa", "username": "u"},
        {**BASE, "protocol": "HTTPS", "caCertificate": "not a certificate"},
        {**BASE, "protocol": "HTTPS", "skipCertificateVerification": "yes"},
        ["not", "an", "object"],
    ],
)
def test_invalid_profiles(api: Api, body: object) -> None:
    r = api.c.post("/osImages/remoteFileServers", json=body)
    assert r.status_code == 400 and r.json()["result"] == "failed", r.text
    assert api.c.get("/osImages/remoteFileServers").json()["serverList"] == []


def test_display_name_defaults_to_the_address(api: Api) -> None:
    body = {k: v for k, v in BASE.items() if k != "displayName"}
    r = api.c.post("/osImages/remoteFileServers", json=body)
    assert r.status_code == 200 and r.json()["displayName"] == "10.20.0.15"


def test_key_pair_with_the_misspelt_passphrase(api: Api) -> None:
    import asyncssh

    r = api.c.post(
        "/osImages/remoteFileServers",
        json={"displayName": "iso-sftp", "address": "10.20.0.15", "port": 22,
              "protocol": "SFTP", "username": "lxca", "keyType": "ECDSA-521-secp521r1",
              "keyPassphras": "n0t-Secret", "keyComment": "lxca-osimages"},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    srv = r.json()
    assert srv["keyType"] == "ECDSA-521-secp521r1"
    assert srv["serverPublicKey"].startswith("ecdsa-sha2-nistp521 ")
    assert srv["serverPublicKey"].endswith(" lxca-osimages")
    key = asyncssh.import_public_key(srv["serverPublicKey"])
    assert srv["keySignature"] == key.get_fingerprint("sha256")
    # Editing other fields keeps the key pair; it is returned again.
    r = api.c.put(
        f"/osImages/remoteFileServers/{srv['serverId']}",
        json={"displayName": "iso-sftp2", "address": "10.20.0.15", "port": 22, "protocol": "SFTP",
              "username": "lxca"},
    )  # fmt: skip
    assert r.json()["serverPublicKey"] == srv["serverPublicKey"]
    # Another address keeps it only when its keyType is given again …
    r = api.c.put(
        f"/osImages/remoteFileServers/{srv['serverId']}",
        json={"displayName": "iso-sftp", "address": "10.20.0.16", "port": 22, "protocol": "SFTP",
              "username": "lxca", "keyType": "ECDSA-521-secp521r1"},
    )  # fmt: skip
    assert r.json()["serverPublicKey"] == srv["serverPublicKey"]
    # … and drops it otherwise, saying so.
    r = api.c.put(
        f"/osImages/remoteFileServers/{srv['serverId']}",
        json={"displayName": "iso-sftp", "address": "10.20.0.17", "port": 22, "protocol": "SFTP",
              "username": "lxca"},
    )  # fmt: skip
    assert r.json()["serverPublicKey"] == "" and r.json()["keyType"] == ""
    assert r.json()["droppedSecrets"] == ["key pair"]


def test_privileges(api: Api, make_api) -> None:  # type: ignore[no-untyped-def]
    sid = register(api, **BASE)["serverId"]
    operator = make_api("lxc-operator")
    assert operator.c.get("/osImages/remoteFileServers").status_code == 200
    assert operator.c.get(f"/osImages/remoteFileServers/{sid}").status_code == 200
    for method, url in [
        ("POST", "/osImages/remoteFileServers"),
        ("PUT", f"/osImages/remoteFileServers/{sid}"),
        ("DELETE", f"/osImages/remoteFileServers/{sid}"),
    ]:
        r = operator.c.request(method, url, json={**BASE, "displayName": "x"})
        assert r.status_code == 403 and r.json()["messages"][0]["id"] == "FQXHMSE9003J"
    os_admin = make_api("lxc-os-admin")
    assert os_admin.c.request("DELETE", f"/osImages/remoteFileServers/{sid}").status_code == 200
