"""Servers to deploy to: BMCs registered against OpenStack's Redfish emulator (over
TLS, Basic credentials), their systems as host platforms, the hosts' settings and the
global deployment settings — shapes, validation, and secrets that never come back."""

from __future__ import annotations

import json
import logging
import socket
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from osdepot.services.context import Context
from tests.conftest import REDFISH_SYSTEMS, Api, at_once, side_by_side
from tests.redfish import PASSWORD, USER, Emulator, emulator_binary, system
from tests.remote.servers import HttpServer
from tests.shared import missing

NODE_A = "27946B599E444FA78E91F3527A1EF094"
NODE_B = "37946B599E444FA78E91F3527A1EF095"


def register(api: Api, bmc: Emulator, **extra: Any) -> Any:
    body = {"url": bmc.url, "username": USER, "password": PASSWORD, "caCertificate": bmc.ca}
    return api.c.post("/bmcs", json={**body, **extra})


def static_settings(credential_type: str) -> dict[str, Any]:
    """Global settings: static IPv4, a root password of ``credential_type``."""
    cred = {"type": credential_type, "name": "root", "password": "Pw-1!", "passwordChanged": True}
    return {
        "activeDirectory": {"allDomains": [], "defaultDomain": ""},
        "credentials": [cred],
        "ipAssignment": "staticv4",
        "isVLANMode": False,
        "licenseKeys": {},
        "deploySettings": {"stateTransitionTimeout": 600},
    }


def need_ping() -> None:
    """The duplicate-IP check pings: skip (strict mode: fail) where this process may
    open no ICMP socket (not root, no CAP_NET_RAW, no ping_group_range)."""
    from osdepot.bmc import probe

    opened = probe._open(socket.AF_INET)
    if opened is None:
        missing("an ICMP socket (root, CAP_NET_RAW or net.ipv4.ping_group_range)")
    else:
        opened[0].close()


def message(r: Any) -> dict[str, Any]:
    assert r.json()["result"] == "failed", r.text
    return dict(r.json()["messages"][0])


def catalog_text(ctx: Context, sql: str) -> str:
    engine: Any = getattr(ctx.catalog, "engine")  # noqa: B009 (SqlCatalog's, not the port's)
    with engine.connect() as c:
        return json.dumps([list(map(str, r)) for r in c.execute(text(sql)).all()])


def test_a_registered_bmc_gives_its_systems_as_host_platforms(
    api: Api, bmc: Emulator, ctx: Context, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    r = register(api, bmc)
    assert r.status_code == 201, r.text
    answer = r.json()
    assert answer["bmc"]["url"] == bmc.url and answer["bmc"]["username"] == USER
    assert answer["bmc"]["hasPassword"] is True and PASSWORD not in r.text
    assert sorted(answer["bmc"]["systems"]) == [NODE_A, NODE_B]

    platforms = api.c.get("/hostPlatforms").json()
    assert platforms["result"] == "success" and platforms["isAuthorized"] is True
    for key in ("availableImages", "imagesWithoutWinPERemoved", "incompatibleImagesRemoved"):
        assert key in platforms
    by_uuid = {i["uuid"]: i for i in platforms["items"]}
    assert set(by_uuid) == {NODE_A, NODE_B}
    a = by_uuid[NODE_A]
    assert a["name"] == "node-a" and a["manufacturer"] == "Sushy Emulator"
    assert a["macAddresses"] == ["00:5c:52:31:3a:9c"]
    assert a["powerState"] == "Off" and by_uuid[NODE_B]["powerState"] == "On"
    assert a["virtualMediaCD"] is True and a["redfishSystem"].startswith("/redfish/v1/Systems/")
    assert a["deployStatus"] == {"id": "0", "name": "Ready", "message": ""}
    assert a["deployStatusID"] == "0" and a["bmc"]["url"] == bmc.url

    # the dashed form Redfish uses names the same host
    one = api.c.get("/hostPlatforms/" + REDFISH_SYSTEMS[0]["uuid"])
    assert one.status_code == 200 and one.json()["uuid"] == NODE_A

    # the password: sealed in the catalog, never in an answer or a log line
    stored = catalog_text(ctx, "SELECT * FROM bmcs")
    assert PASSWORD not in stored and "gAAAAA" in stored  # a Fernet token
    for path in ("/bmcs", "/hostPlatforms", f"/bmcs/{answer['bmc']['id']}"):
        assert PASSWORD not in api.c.get(path).text
    assert PASSWORD not in caplog.text
    # the emulator refuses a Redfish session and osdepot falls back to Basic: sushy's
    # ERROR line for the refusal was in the log at every read of the BMC
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]

    # registered once only
    again = register(api, bmc)
    assert again.status_code == 409 and message(again)["id"] == "FQXHMFC9007J"

    # refreshed: the same systems; removed: its systems go with it
    bid = answer["bmc"]["id"]
    fresh = api.c.post(f"/bmcs/{bid}/refresh")
    assert fresh.status_code == 200 and fresh.json()["bmc"]["lastError"] == ""
    assert api.c.delete(f"/bmcs/{bid}").status_code == 200
    assert api.c.get("/hostPlatforms").json()["items"] == []
    gone = api.c.get("/hostPlatforms/" + NODE_A)
    assert gone.status_code == 404 and message(gone)["id"] == "FQXHMFC9016J"


def test_bmcs_that_cannot_be_used_are_refused_clearly_and_nothing_is_kept(
    api: Api, bmc: Emulator
) -> None:
    wrong = register(api, bmc, password="not-the-password")
    assert wrong.status_code == 409, wrong.text
    m = message(wrong)
    assert m["id"] == "FQXHMFC9051J" and bmc.url in m["text"] and "401" in m["explanation"]
    assert "not-the-password" not in wrong.text

    untrusted = register(api, bmc, caCertificate="")  # its self-signed certificate
    assert untrusted.status_code == 409 and message(untrusted)["id"] == "FQXHMFC9050M"
    assert "TLS certificate" in message(untrusted)["explanation"]

    both = register(api, bmc, skipCertificateVerification=True)
    assert both.status_code == 400 and message(both)["text"].startswith("The value of skip")

    closed = api.c.post(
        "/bmcs", json={"url": "https://127.0.0.1:1", "username": "u", "password": "p"}
    )
    assert closed.status_code == 409 and message(closed)["id"] == "FQXHMFC9050M"

    web = HttpServer(Path("/nonexistent"), auth=False, tls=None)  # answers, but 404
    try:
        r = api.c.post(
            "/bmcs",
            json={"url": f"http://127.0.0.1:{web.port}", "username": "u", "password": "p"},
        )
    finally:
        web.stop()
    assert r.status_code == 409 and message(r)["id"] == "FQXHMFC9052J", r.text

    for body, field in (
        ({"username": "u", "password": "p"}, "url"),
        ({"url": bmc.url, "password": "p"}, "username"),
        ({"url": bmc.url, "username": "u"}, "password"),
    ):
        r = api.c.post("/bmcs", json=body)
        assert r.status_code == 412 and field in message(r)["text"], (body, r.text)
    for url in ("ftp://bmc", "https://user:pw@bmc", "https://bmc/other/path", "https://:99"):
        r = api.c.post("/bmcs", json={"url": url, "username": "u", "password": "p"})
        assert r.status_code == 400 and message(r)["text"] == "The value of url is not valid."
    assert api.c.get("/bmcs").json()["bmcs"] == []


def test_insecure_registration_and_a_refresh_of_a_bmc_that_went_away(api: Api) -> None:
    binary = emulator_binary()
    assert binary is not None
    uuid = "47946b59-9e44-4fa7-8e91-f3527a1ef096"
    lone = Emulator(binary, [system(uuid, "node-c", "00:5c:52:31:3a:9e")])
    try:
        r = register(api, lone, caCertificate="", skipCertificateVerification=True)
        assert r.status_code == 201, r.text
        assert r.json()["bmc"]["skipCertificateVerification"] is True
        bid = r.json()["bmc"]["id"]
        host = uuid.replace("-", "").upper()
        body = {"uuid": host, "networkSettings": {}, "storageSettings": {"targetDevice": "m2disk"}}
        assert api.c.post("/osdeployment/hostSettings", json=[body]).status_code == 200
    finally:
        lone.stop()
    r = api.c.post(f"/bmcs/{bid}/refresh")
    assert r.status_code == 409 and message(r)["id"] == "FQXHMFC9050M"
    kept = api.c.get(f"/bmcs/{bid}").json()["bmc"]
    assert kept["systems"] == [host] and "connection" in kept["lastError"].lower()
    settings = api.c.get(f"/osdeployment/hostSettings/{host}").json()
    assert settings["host"]["storageSettings"] == {"targetDevice": "m2disk"}


NETWORK: dict[str, Any] = {
    "dns1": "10.240.0.10",
    "dns2": "",
    "gateway": "10.243.0.1",
    "hostname": "proton1",
    "ipAddress": "10.243.9.87",
    "mtu": 1500,
    "prefixLength": 64,
    "selectedMAC": "AUTO",
    "subnetMask": "255.255.240.0",
    "vlanId": 0,
}


def test_host_settings_are_checked_stored_and_forgotten(
    api: Api, bmc: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert register(api, bmc).status_code == 201
    local = {"targetDevice": "localdisk"}
    entry = {"uuid": NODE_A, "networkSettings": NETWORK, "storageSettings": local}
    r = api.c.post("/osdeployment/hostSettings", json={"hosts": [entry]})
    assert r.status_code == 200 and r.json()["result"] == "Success", r.text
    listed = api.c.get("/osdeployment/hostSettings").json()
    assert listed["result"] == "Success" and [h["uuid"] for h in listed["hosts"]] == [NODE_A]
    net = listed["hosts"][0]["networkSettings"]
    assert net["ipAddress"] == "10.243.9.87" and net["hostname"] == "proton1"
    # the Ruby client's schema sends prefixLength and vlanId as strings; the dashed UUID
    ruby = {**entry, "uuid": REDFISH_SYSTEMS[0]["uuid"]}
    ruby["networkSettings"] = {**NETWORK, "prefixLength": "20", "vlanId": "521"}
    assert api.c.put("/osdeployment/hostSettings", json=[ruby]).status_code == 200
    one = api.c.get(f"/osdeployment/hostSettings/{NODE_A}").json()["host"]["networkSettings"]
    assert one["vlanId"] == 521 and one["prefixLength"] == 20
    platform = api.c.get(f"/hostPlatforms/{NODE_A}").json()
    assert platform["networkSettings"]["vlanId"] == 521
    assert platform["storageSettings"] == {"targetDevice": "localdisk"}

    bad: list[tuple[dict[str, Any], str]] = [
        ({"ipAddress": "10.243.9.300"}, "networkSettings.ipAddress"),
        ({"gateway": "10.9.0.1"}, "networkSettings.gateway"),
        ({"subnetMask": "255.0.255.0"}, "networkSettings.subnetMask"),
        ({"prefixLength": 129}, "networkSettings.prefixLength"),
        ({"prefixLength": "12a"}, "networkSettings.prefixLength"),
        ({"hostname": "-bad-.example"}, "networkSettings.hostname"),
        ({"mtu": 100}, "networkSettings.mtu"),
        ({"vlanId": 4095}, "networkSettings.vlanId"),
        ({"selectedMAC": "00:11"}, "networkSettings.selectedMAC"),
        ({"dns1": "dns.example"}, "networkSettings.dns1"),
        ({"gateway": "fe80::1"}, "networkSettings.gateway"),
    ]
    for change, field in bad:
        item = {**entry, "networkSettings": {**NETWORK, **change}}
        r = api.c.put("/osdeployment/hostSettings", json=[item])
        assert r.status_code == 400, (change, r.text)
        assert message(r)["text"] == f"The value of hosts[0].{field} is not valid.", r.text
    tape = {**entry, "storageSettings": {"targetDevice": "tape"}}
    r = api.c.put("/osdeployment/hostSettings", json=[tape])
    assert r.status_code == 400 and "localdisk" in message(r)["explanation"]
    r = api.c.put("/osdeployment/hostSettings", json=[{"uuid": NODE_A, "networkSettings": {}}])
    assert r.status_code == 412 and "storageSettings" in message(r)["text"]
    r = api.c.put("/osdeployment/hostSettings", json=[{**entry, "uuid": "F" * 32}])
    assert r.status_code == 404 and message(r)["id"] == "FQXHMFC9016J"
    # one bad entry: none stored
    good_b = {**entry, "uuid": NODE_B}
    r = api.c.put("/osdeployment/hostSettings", json=[good_b, {**entry, "networkSettings": 3}])
    assert r.status_code == 400

    def stored(uuid: str) -> Any:
        return api.c.get(f"/osdeployment/hostSettings/{uuid}").json()["host"]["networkSettings"]

    assert stored(NODE_B) == {}
    assert stored(NODE_A) == one  # nothing stored changed through all that

    r = api.c.delete(f"/osdeployment/hostSettings/{NODE_A}")
    assert r.status_code == 200 and r.json()["result"] == "Success"
    assert api.c.get("/osdeployment/hostSettings").json()["hosts"] == []


def test_host_settings_are_stored_for_all_or_none(
    api: Api, bmc: Emulator, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Settings of two hosts, one of them removed (its BMC refreshed without it) after
    the request was checked: before, the first host's settings were stored one by one
    and the request then answered 404 for the second; one transaction now, which
    stores none of them when a host is gone."""
    from osdepot.services import hosts

    assert register(api, bmc).status_code == 201
    local = {"targetDevice": "localdisk"}
    entries = [
        {"uuid": uuid, "networkSettings": NETWORK, "storageSettings": local}
        for uuid in (NODE_A, NODE_B)
    ]
    parse_storage = hosts.parse_storage  # type: ignore[attr-defined]
    parsed: list[str] = []

    def then_b_goes(raw: Any, where: str) -> Any:
        parsed.append(where)
        if len(parsed) == 2:  # both checked: B's BMC no longer reports it
            a = ctx.catalog.get_host(NODE_A)
            assert a is not None and ctx.catalog.refresh_bmc(a.bmc_id, [a], 2.0, "")
        return parse_storage(raw, where)

    monkeypatch.setattr(hosts, "parse_storage", then_b_goes)
    r = api.c.put("/osdeployment/hostSettings", json=entries)
    assert r.status_code == 404, r.text
    assert message(r)["id"] == "FQXHMFC9016J" and NODE_B in message(r)["text"]
    a_now = api.c.get(f"/osdeployment/hostSettings/{NODE_A}").json()["host"]
    assert a_now["networkSettings"] == {}  # before: stored
    monkeypatch.setattr(hosts, "parse_storage", parse_storage)
    r = api.c.put("/osdeployment/hostSettings", json=entries[:1])
    assert r.status_code == 200, r.text
    assert [h["uuid"] for h in r.json()["hosts"]] == [NODE_A]


PYLXCA_GLOBAL: dict[str, Any] = {
    "activeDirectory": {"allDomains": [], "defaultDomain": "labs.lenovo.com"},
    "credentials": [
        {"name": "root", "password": "Test1234", "passwordChanged": True, "type": "LINUX"},
        {"type": "WINDOWS", "name": "Administrator", "password": None, "passwordChanged": False},
    ],
    "ipAssignment": "dhcpv4",
    "isVLANMode": False,
    "licenseKeys": {
        "win2019r1": {
            "dataCenterLicenseKey": "",
            "standardLicenseKey": "AAAAA-BBBBB-CCCCC-DDDDD-EEEEE",
        },
        "win2016r1": {"dataCenterLicenseKey": "", "standardLicenseKey": ""},
    },
}


def test_two_changes_of_the_global_settings_at_once_both_count(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One administrator sets the Linux password while another sets a licence key:
    each PUT keeps what it does not name from what is stored. Before, both read the
    settings, then each wrote its document, and the later one lost the other's
    change."""
    import contextlib
    import threading

    from osdepot.domain.deploy import parse_global as real

    barrier = threading.Barrier(2)

    def parse_together(body: Any, timeout: int) -> Any:
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(0.5)  # both have read the settings, if they can
        return real(body, timeout)

    monkeypatch.setattr("osdepot.services.deploy_settings.parse_global", parse_together)
    # (a PUT names every field; what is kept is a credential it does not name and a
    # key it leaves out)
    linux = {"type": "LINUX", "name": "root", "password": "Pw-1234", "passwordChanged": True}
    password = {**PYLXCA_GLOBAL, "credentials": [linux], "licenseKeys": {}}
    windows = {"type": "WINDOWS", "name": "Administrator", "passwordChanged": False}
    key = {**PYLXCA_GLOBAL, "credentials": [windows]}
    answers: list[int] = []
    threads = [
        threading.Thread(
            target=lambda b=b: answers.append(
                api.c.put("/osdeployment/globalSettings", json=b).status_code
            )
        )
        for b in (password, key)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert answers == [200, 200]
    got = api.c.get("/osdeployment/globalSettings").json()["globalSetting"]
    creds = {c["type"]: c["passwordSet"] for c in got["credentials"]}
    assert creds["LINUX"] is True
    assert got["licenseKeys"]["win2019r1"]["standardLicenseKeySet"] is True


def test_global_settings_keep_their_secrets(
    api: Api, ctx: Context, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every log line is made (and may not hold a secret)
    first = api.c.get("/osdeployment/globalSettings").json()
    assert first["globalSetting"]["ipAssignment"] == "dhcpv4"
    assert first["deploySettings"]["stateTransitionTimeout"] == 3600

    r = api.c.put("/osdeployment/globalSettings", json=PYLXCA_GLOBAL)
    assert r.status_code == 200, r.text
    assert "Test1234" not in r.text and "AAAAA-BBBBB" not in r.text
    got = api.c.get("/osdeployment/globalSettings").json()
    creds = {c["type"]: c for c in got["globalSetting"]["credentials"]}
    assert creds["LINUX"]["passwordSet"] is True and creds["LINUX"]["password"] is None
    assert creds["WINDOWS"]["passwordSet"] is False
    key = got["globalSetting"]["licenseKeys"]["win2019r1"]
    assert key == {
        "dataCenterLicenseKey": "",
        "dataCenterLicenseKeySet": False,
        "standardLicenseKey": "",
        "standardLicenseKeySet": True,
    }
    stored = catalog_text(ctx, "SELECT value FROM settings")
    assert "Test1234" not in stored and "AAAAA-BBBBB" not in stored
    assert "Test1234" not in caplog.text and "changed by admin" in caplog.text

    # what GET answered, sent back: nothing lost (no passwordChanged, keys "")
    back = dict(got["globalSetting"], deploySettings={"stateTransitionTimeout": 600})
    assert api.c.put("/osdeployment/globalSettings", json=back).status_code == 200
    again = api.c.get("/osdeployment/globalSettings").json()
    assert again["globalSetting"]["licenseKeys"]["win2019r1"]["standardLicenseKeySet"] is True
    assert {c["type"]: c["passwordSet"] for c in again["globalSetting"]["credentials"]}["LINUX"]
    assert again["deploySettings"]["stateTransitionTimeout"] == 600
    # the whole answer of GET sent back unchanged (was 412 "activeDirectory is missing")
    whole = dict(again, deploySettings={"stateTransitionTimeout": 900})
    r = api.c.put("/osdeployment/globalSettings", json=whole)
    assert r.status_code == 200, r.text
    assert r.json()["globalSetting"] == again["globalSetting"]
    assert r.json()["deploySettings"]["stateTransitionTimeout"] == 900
    back["deploySettings"] = {"stateTransitionTimeout": 600}
    assert api.c.put("/osdeployment/globalSettings", json=back).status_code == 200
    # null clears a key
    cleared = dict(back, licenseKeys={"win2019r1": {"standardLicenseKey": None}})
    assert api.c.put("/osdeployment/globalSettings", json=cleared).status_code == 200
    keys = api.c.get("/osdeployment/globalSettings").json()["globalSetting"]["licenseKeys"]
    assert keys["win2019r1"]["standardLicenseKeySet"] is False

    bad_global: list[tuple[dict[str, Any], int, str]] = [
        ({"ipAssignment": "dhcpv9"}, 400, "ipAssignment"),
        ({"isVLANMode": "perhaps"}, 400, "isVLANMode"),
        ({"licenseKeys": {"win95": {}}}, 400, "licenseKeys"),
        ({"licenseKeys": {"win2019r1": {"standardLicenseKey": "1"}}}, 400, "standardLicenseKey"),
        ({"credentials": [{"type": "LINUX", "passwordChanged": True}]}, 400, "[0].password"),
        ({"credentials": [{"type": "AIX", "passwordChanged": False}]}, 400, "credentials[0].type"),
        ({"activeDirectory": {"allDomains": [{"domainName": "bad domain"}]}}, 400, "domainName"),
        ({"deploySettings": {"stateTransitionTimeout": 5}}, 400, "stateTransitionTimeout"),
    ]
    for change, status, field in bad_global:
        r = api.c.put("/osdeployment/globalSettings", json={**PYLXCA_GLOBAL, **change})
        assert r.status_code == status and field in message(r)["text"], (change, r.text)
    missing = {k: v for k, v in PYLXCA_GLOBAL.items() if k != "isVLANMode"}
    r = api.c.put("/osdeployment/globalSettings", json=missing)
    assert r.status_code == 412 and "isVLANMode" in message(r)["text"]
    # the stored settings did not change
    now = api.c.get("/osdeployment/globalSettings").json()
    assert now["deploySettings"]["stateTransitionTimeout"] == 600


def test_a_role_without_the_deploy_privileges_reads_but_does_not_change(
    make_api: Any, bmc: Emulator
) -> None:
    operator = make_api("lxc-operator")
    assert operator.c.get("/hostPlatforms").json()["isAuthorized"] is False
    r = register(operator, bmc)
    assert r.status_code == 403
    r = operator.c.put("/osdeployment/globalSettings", json=PYLXCA_GLOBAL)
    assert r.status_code == 403


def test_a_bmc_that_reports_too_many_systems_is_refused_before_they_are_read(
    api: Api, bmc: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bound on what one BMC can make osdepot read and keep (256 systems), here
    lowered to 1 against the emulator's 2: refused from the collection's count."""
    import osdepot.bmc.redfish as redfish

    monkeypatch.setattr(redfish, "MAX_SYSTEMS", 1)
    read: list[str] = []
    real = redfish.RedfishReader._read

    def counting(root: Any, now: float) -> Any:
        collection_type = type(root.get_system_collection())
        original = collection_type.get_member

        def get_member(self: Any, path: str) -> Any:
            read.append(path)
            return original(self, path)

        monkeypatch.setattr(collection_type, "get_member", get_member)
        return real(root, now)

    monkeypatch.setattr(redfish.RedfishReader, "_read", staticmethod(counting))
    r = register(api, bmc)
    assert r.status_code == 409 and message(r)["id"] == "FQXHMFC9052J"
    assert "2 systems, more than 1" in message(r)["explanation"] and read == []
    assert api.c.get("/bmcs").json()["bmcs"] == []


def test_the_lists_a_request_may_carry_are_bounded(api: Api) -> None:
    """At most 100 deployments and 1,000 hosts' settings per request (and 1 MiB of JSON,
    as every body): a longer list is refused before any entry is looked at."""
    many = [{"uuid": "A" * 32, "selectedImage": "x"}] * 101
    r = api.c.put("/hostPlatforms", json=many)
    assert r.status_code == 400 and "At most 100 hosts" in r.text
    settings = [{"uuid": "A" * 32, "networkSettings": {}, "storageSettings": {}}] * 1001
    r = api.c.put("/osdeployment/hostSettings", json=settings)
    assert r.status_code == 400 and "At most 1000" in r.text
    for body, status in (([], 400), ({}, 412), ("x", 400), (None, 400), ([3], 400)):
        r = api.c.put("/hostPlatforms", json=body)
        assert r.status_code == status, (body, r.text)


def test_an_esxi_medium_the_view_cannot_be_made_for_is_refused_at_once(
    api: Api, bmc: Emulator, tmp_path: Path
) -> None:
    """ESXi's view of its ISO is made when the deployment is checked: a boot.cfg with
    no room for the option refuses it before anything starts (no job, nothing on the
    BMC), as does what ESXi's kickstart cannot say (an IPv6 address)."""
    from tests.media import esxi_files, make_iso

    files = esxi_files()
    full = files["boot.cfg"] + b"#" * (2048 - len(files["boot.cfg"]) - 1) + b"\n"
    iso = make_iso(tmp_path / "esxi.iso", {**files, "boot.cfg": full}, volume_id="ESXI-8.0U2")
    api.import_file("OS", "esxi.iso", iso.read_bytes())
    profiles = [p["id"] for i in api.listing()["items"] for p in i["profiles"]]
    (profile,) = [p for p in profiles if p.startswith("esxi")]
    assert register(api, bmc).status_code == 201
    settings = static_settings("RHEL/ESXi")
    assert api.c.put("/osdeployment/globalSettings", json=settings).status_code == 200
    net = {"hostname": "esx1", "ipAddress": "10.0.0.9", "subnetMask": "255.255.255.0"}
    body = [{"uuid": NODE_A, "selectedImage": profile, "networkSettings": net}]
    r = api.c.put("/hostPlatforms", json=body)
    m = message(r)
    assert r.status_code == 409 and m["id"] == "FQXHMFC9055J", r.text
    assert "boot.cfg" in m["explanation"] and "no room" in m["explanation"], m
    v6 = {"hostname": "esx1", "ipAddress": "fd00::9", "prefixLength": 64}
    settings["ipAssignment"] = "staticv6"
    assert api.c.put("/osdeployment/globalSettings", json=settings).status_code == 200
    r = api.c.put("/hostPlatforms", json=[{**body[0], "networkSettings": v6}])
    assert r.status_code == 400 and "networkSettings.ipAddress" in r.text, r.text
    tasks = api.c.get("/tasks").json()
    assert tasks and not [t for t in tasks if t["typeId"] == "OSDeploy"], tasks  # none began


def test_the_duplicate_ip_check_refuses_an_address_in_use(
    api: Api, bmc: Emulator, tmp_path: Path
) -> None:
    """deploySettings.ipDuplicationCheckEnabled (on by default): two entries with one
    address, an address in another host's stored settings, an address that answers
    pings — each refused before anything starts, naming what is in the way."""
    from tests.media import medium_bytes

    api.import_file("OS", "rhel.iso", medium_bytes("rhel", version="9.4"))
    profiles = [p["id"] for i in api.listing()["items"] for p in i["profiles"]]
    profile = next(p for p in profiles if p.endswith("Basic"))
    assert register(api, bmc).status_code == 201
    settings = static_settings("LINUX")
    assert api.c.put("/osdeployment/globalSettings", json=settings).status_code == 200

    def net(ip: str) -> dict[str, Any]:
        return {"hostname": "h1", "ipAddress": ip, "subnetMask": "255.0.0.0"}

    two = [
        {"uuid": NODE_A, "selectedImage": profile, "networkSettings": net("10.7.0.1")},
        {"uuid": NODE_B, "selectedImage": profile, "networkSettings": net("10.7.0.1")},
    ]
    r = api.c.put("/hostPlatforms", json=two)
    assert r.status_code == 400 and "[1].networkSettings.ipAddress" in r.text, r.text
    assert "10.7.0.1 is given to host" in message(r)["explanation"]

    local = {"targetDevice": "localdisk"}
    stored = {"uuid": NODE_B, "networkSettings": net("10.7.0.2"), "storageSettings": local}
    assert api.c.put("/osdeployment/hostSettings", json=[stored]).status_code == 200
    r = api.c.put("/hostPlatforms", json=[{**two[0], "networkSettings": net("10.7.0.2")}])
    assert r.status_code == 409 and message(r)["id"] == "FQXHMFC9055J", r.text
    assert "stored settings of host" in message(r)["explanation"] and NODE_B in r.text

    # 127.0.0.0/8 answers pings on Linux: an address something answers at
    need_ping()
    r = api.c.put("/hostPlatforms", json=[{**two[0], "networkSettings": net("127.0.0.9")}])
    assert r.status_code == 409 and "answers pings at its address 127.0.0.9" in r.text, r.text
    tasks = api.c.get("/tasks").json()
    assert not [t for t in tasks if t["typeId"] == "OSDeploy"], tasks  # none began

    # a server installed again answers at its own (stored) address: not held against it
    again = {"uuid": NODE_A, "networkSettings": net("127.0.0.9"), "storageSettings": local}
    assert api.c.put("/osdeployment/hostSettings", json=[again]).status_code == 200
    r = api.c.put("/hostPlatforms", json=[{"uuid": NODE_A, "selectedImage": profile}])
    assert r.status_code == 200 and r.json()["jobs"][0]["uuid"] == NODE_A, r.text


def test_the_ping_finds_who_answers_and_says_nothing_without_a_socket(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from osdepot.bmc import probe

    need_ping()
    # 100::1: IPv6's discard-only prefix (RFC 6666), which nothing answers anywhere
    found = probe.addresses_in_use(["127.0.0.1", "::1", "127.0.0.2", "100::1"], 1.0)
    assert found == {"127.0.0.1", "::1", "127.0.0.2"}
    monkeypatch.setattr(probe, "_open", lambda _family: None)
    monkeypatch.setattr(probe, "_warned", False)
    assert probe.addresses_in_use(["127.0.0.1"], 0.2) == set()
    assert "cannot ping" in caplog.text


def test_the_number_of_bmcs_is_bounded(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from osdepot.services import hosts

    monkeypatch.setattr(hosts, "MAX_BMCS", 0)  # full: refused before the BMC is asked
    r = api.c.post("/bmcs", json={"url": "https://127.0.0.1:1", "username": "u", "password": "p"})
    assert r.status_code == 409, r.text
    assert r.json()["messages"][0]["id"] == "FQXHMFC9065J"
    assert api.c.get("/bmcs").json()["bmcs"] == []


def test_bmcs_registered_at_the_same_instant_stay_bounded(
    api: Api, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BMCs were counted before their systems were read (seconds, over the network)
    and added after: registrations at the same instant each found room, and all were
    added (here two past a limit of two). Counted again in the insert's transaction
    now: one of them is refused."""
    from osdepot.services import hosts

    monkeypatch.setattr(hosts, "MAX_BMCS", 2)
    monkeypatch.setattr(hosts.Hosts, "_read", lambda _self, _access: [])  # no systems

    def register_at(n: int) -> int:
        body = {"url": f"https://127.0.0.{n}:1", "username": "u", "password": "p"}
        return int(api.c.post("/bmcs", json=body).status_code)

    assert register_at(1) == 201
    side_by_side(monkeypatch, ctx.catalog, "add_bmc")  # both have counted, before
    answers = at_once(lambda: register_at(2), lambda: register_at(3))
    assert sorted(answers) == [201, 409]
    assert len(api.c.get("/bmcs").json()["bmcs"]) == 2


class _HostileBmc:
    """A plain-HTTP 'BMC' on 127.0.0.1 whose every answer is out of bounds: ``huge``
    sends 6 MiB of JSON without a length, ``announced`` declares 1 GiB and sends 1 KiB
    (``announced-digits`` a length of 5,000 digits),
    ``trickle`` sends a byte every 50 ms without end."""

    def __init__(self, mode: str) -> None:
        import http.server
        import threading
        import time

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_a: Any) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                if mode.startswith("announced"):
                    # 5,000 digits: more than int() takes (it raised where it was read)
                    length = str(1 << 30) if mode == "announced" else "9" * 5000
                    self.send_header("Content-Length", length)
                    self.end_headers()
                    self.wfile.write(b'{"x": "' + b"a" * 1024)
                    return
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    if mode == "huge":
                        self.wfile.write(b'{"x": "' + b"a" * (6 << 20) + b'"}')
                        return
                    for _ in range(400):  # 20 s at most, then the test server stops
                        self.wfile.write(b" ")
                        self.wfile.flush()
                        time.sleep(0.05)
                except OSError:
                    pass  # osdepot hung up: what it should do

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize(
    ("mode", "said"),
    [
        ("huge", "larger than 4194304 bytes"),
        ("announced", "announced an answer of 1073741824 bytes"),
        ("announced-digits", "announced an answer of 999999999999999999… (5000 digits)"),
        ("trickle", "took more than 2 s"),
    ],
)
def test_a_bmc_whose_answers_are_out_of_bounds_is_refused(
    api: Api, ctx: Context, mode: str, said: str
) -> None:
    from dataclasses import replace

    ctx.settings = replace(ctx.settings, bmc_timeout=0.5)  # an answer may take 2 s
    bmc = _HostileBmc(mode)
    try:
        r = api.c.post("/bmcs", json={"url": bmc.url, "username": "u", "password": "p"})
    finally:
        bmc.close()
    assert r.status_code == 409, r.text
    assert said in r.json()["messages"][0]["explanation"], r.text
    assert api.c.get("/bmcs").json()["bmcs"] == []


def test_what_a_bmc_names_is_kept_printable(api: Api) -> None:
    """A BMC's system names are kept as text a catalog can store and a terminal can
    show: a name holding half a UTF-16 surrogate pair (which no catalog driver can
    encode) made the registration a 500; control characters reached every client as
    they were. A MAC address that is none is left out."""
    binary = emulator_binary()
    if binary is None:
        missing("sushy-emulator (PyPI sushy-tools, a test dependency)")
    assert binary is not None
    odd = system(NODE_A, "a\ud800b \x1b[2J\r\nX: 1", "00:5c:52:31:3a:9c")
    odd["nics"].append({"mac": "not a mac\x00"})
    emulator = Emulator(binary, [odd])
    try:
        r = register(api, emulator)
    finally:
        emulator.stop()
    assert r.status_code == 201, r.text
    (host,) = api.c.get("/hostPlatforms").json()["items"]
    assert host["name"] == "a\ufffdb \\x1b[2J\\x0d\\x0aX: 1"
    assert host["macAddresses"] == ["00:5c:52:31:3a:9c"]
