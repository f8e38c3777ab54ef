"""Customised profiles as LXCA has them: customising a predefined profile with files
of the repository, changing it and its files, validating custom settings, exporting
it (to a download or a remote server) and importing the archive on a second server,
with every way of getting it wrong refused before anything changes."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

from osdepot.compose import open_context
from osdepot.config import Settings
from osdepot.services.auth import Auth
from osdepot.services.context import Context
from osdepot.services.recovery import recover
from osdepot.web.app import create_app
from tests.conftest import (
    ADMIN,
    ADMIN_PW,
    Api,
    at_once,
    replace,
    sha256,
    side_by_side,
    staging_files,
)
from tests.media import medium_bytes
from tests.samples import CONFIG, KICKSTART, VALID, profile_archive, rpm_bytes

ISO = medium_bytes("rhel", version="9.4")
IMAGE = "rhels9.4"
BASIC = f"{IMAGE}|{IMAGE}-x86_64-install-Basic"
CUSTOM = f"{IMAGE}|{IMAGE}-x86_64-install-Custom_web"
SCRIPT = VALID["SCRIPT"][2]


def q(pid: str) -> str:
    return quote(pid, safe="")


@pytest.fixture
def stocked(api: Api) -> dict[str, str]:
    """An OS image and one file of each kind a RHEL profile takes."""
    api.import_file("OS", "rhel.iso", ISO)
    return {
        "script": api.import_file("SCRIPT", "post.sh", SCRIPT, os="rhel"),
        "ks": api.import_file("UNATTEND", "ks.ks", KICKSTART, os="rhel"),
        "config": api.import_file("CONFIG", "settings.json", CONFIG, os="rhel"),
        "dud": api.import_file("DUD", "bnxt.rpm", rpm_bytes(), os="rhel", imageName=IMAGE),
        "soft": api.import_file("SOFTWARE", "agent.tar.gz", VALID["OSPROFILE"][2], os="rhel"),
    }


def options(f: dict[str, str]) -> dict[str, Any]:
    return {
        "driverOptions": {"driverIds": [f["dud"]]},
        "customConfigOptions": {"customConfigFileIds": [{"id": f["config"]}]},
        "customScriptOptions": {"customScriptIds": [f["script"]]},
        "customSoftwareOptions": {"customSoftwareIds": [f["soft"]]},
        "unattendOptions": {"unattendFileIds": [f["ks"]]},
        "bootOptions": "",
    }


def customise(api: Api, f: dict[str, str], name: str = "web") -> Any:
    body = {
        "profile": {"name": name, "description": "web servers", "customizationOptions": options(f)}
    }
    return api.c.post(f"/osImages/{q(BASIC)}", json=body)


def profile_entry(api: Api, pid: str) -> dict[str, Any]:
    (image,) = [i for i in api.listing()["items"] if i["id"] == IMAGE]
    (entry,) = [p for p in image["profiles"] if p["id"] == pid]
    return dict(entry)


def wait(api: Api, job: str) -> dict[str, Any]:
    for _ in range(200):
        task = api.task(job)
        if task["status"] in ("Complete", "Stopped", "Cancelled"):
            return task
        time.sleep(0.05)
    raise AssertionError(f"job {job} did not end: {task}")


def test_a_predefined_profile_is_customised_with_files_of_the_repository(
    api: Api, stocked: dict[str, str]
) -> None:
    r = customise(api, stocked)
    assert r.status_code == 201, r.text
    assert r.json()["id"] == CUSTOM
    entry = profile_entry(api, CUSTOM)
    assert entry["type"] == "custom" and entry["baseProfile"] == BASIC
    assert entry["profile"] == "Basic" and entry["createdBy"] == ADMIN
    opts = entry["customizationOptions"]
    assert opts["bootOptions"] == ""  # Windows only: LXCA shows unsupported groups as ""
    assert opts["driverOptions"] == {"driverIds": [stocked["dud"]]}
    assert opts["unattendOptions"] == {"unattendFileIds": [stocked["ks"]]}
    assert opts["customConfigOptions"] == {"customConfigFileIds": [stocked["config"]]}
    # the OSPROFILE filter of GET /osImages shows it too
    found = api.c.get(f"/osImages?imageType=OSPROFILE&id={q(CUSTOM)}").json()["items"]
    assert found[0]["profiles"][0]["customizationOptions"] == opts
    # a second profile of the same name is refused; a customised profile can be the base
    assert customise(api, stocked).status_code == 409
    body = {"profile": {"name": "web 2", "customizationOptions": {}}}
    r = api.c.post(f"/osImages/{q(CUSTOM)}", json=body)
    assert r.status_code == 201 and r.json()["id"].endswith("Custom_web_2")


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        (lambda b, f: b["profile"].update(name="../x"), 400, "profile.name"),
        (lambda b, f: b["profile"].pop("customizationOptions"), 412, "customizationOptions"),
        (
            lambda b, f: b["profile"]["customizationOptions"].update(
                bootOptions={"bootFileIds": ["x"]}
            ),
            404,
            "x",
        ),
        (lambda b, f: b["profile"]["customizationOptions"].update(nosuch={}), 400, "nosuch"),
        (
            lambda b, f: b["profile"].update(
                customizationOptions={"unattendOptions": {"unattendFileIds": [f["script"]]}}
            ),
            400,
            "SCRIPT file",
        ),
        (
            lambda b, f: b["profile"]["customizationOptions"].update(
                unattendOptions={"unattendFileIds": [f["ks"], f["ks"]]}
            ),
            400,
            "at most 1",
        ),
        (lambda b, f: b.update(profile="web"), 400, "profile"),
    ],
)
def test_bad_customisations_are_refused_and_change_nothing(
    api: Api, stocked: dict[str, str], change: Any, status: int, words: str
) -> None:
    body = {"profile": {"name": "web", "customizationOptions": options(stocked)}}
    change(body, stocked)
    before = api.listing()
    r = api.c.post(f"/osImages/{q(BASIC)}", json=body)
    assert r.status_code == status, r.text
    assert words in json.dumps(r.json()["messages"])
    assert api.listing() == before


def test_files_for_another_os_or_image_do_not_fit(api: Api, stocked: dict[str, str]) -> None:
    win = api.import_file("SCRIPT", "setup.ps1", b"Write-Host hi\r\n", os="windows")
    body = {
        "profile": {
            "name": "w",
            "customizationOptions": {"customScriptOptions": {"customScriptIds": [win]}},
        }
    }
    r = api.c.post(f"/osImages/{q(BASIC)}", json=body)
    assert r.status_code == 400 and "windows" in r.text
    boot = api.import_file("BOOT", *VALID["BOOT"][0:1], VALID["BOOT"][2], **VALID["BOOT"][1])
    body = {
        "profile": {"name": "b", "customizationOptions": {"bootOptions": {"bootFileIds": [boot]}}}
    }
    r = api.c.post(f"/osImages/{q(BASIC)}", json=body)
    assert r.status_code == 400 and "not supported for linux" in r.text
    r = api.c.post("/osImages/nosuch%7Cprofile", json={"profile": {"name": "x"}})
    assert r.status_code == 404


def test_a_file_a_profile_holds_is_not_deleted_until_the_profile_goes(
    api: Api, stocked: dict[str, str], ctx: Context
) -> None:
    assert customise(api, stocked).status_code == 201
    r = api.c.delete(f"/osImages/{stocked['ks']}")
    assert r.status_code == 409 and CUSTOM in r.text
    assert r.json()["messages"][0]["id"] == "FQXHMFC9046J"
    # the profile and its file together: fine
    r = api.c.delete(f"/osImages/{q(CUSTOM)},{stocked['ks']}")
    assert r.status_code == 200, r.text
    assert ctx.catalog.get_file(stocked["ks"]) is None
    # deleting the OS image takes its customised profiles, never their files
    assert (
        customise(
            api, {**stocked, "ks": api.import_file("UNATTEND", "k.ks", KICKSTART, os="rhel")}
        ).status_code
        == 201
    )
    assert api.c.delete(f"/osImages/{IMAGE}").status_code == 200
    assert not ctx.catalog.find_profiles([CUSTOM])
    assert ctx.catalog.get_file(stocked["script"]) is not None


def test_a_customised_profile_and_its_files_are_changed_with_put(
    api: Api, stocked: dict[str, str], ctx: Context
) -> None:
    assert customise(api, stocked).status_code == 201
    r = api.c.put(
        f"/osImages/{q(CUSTOM)}",
        json={
            "profile": {
                "description": "v2",
                "customizationOptions": {
                    "customScriptOptions": {"customScriptIds": [stocked["script"]]}
                },
            }
        },
    )
    assert r.status_code == 200, r.text
    entry = profile_entry(api, CUSTOM)
    assert entry["description"] == "v2"
    assert entry["customizationOptions"]["unattendOptions"] == {"unattendFileIds": []}
    # now the kickstart file is free to go; the script is not
    assert api.c.delete(f"/osImages/{stocked['script']}").status_code == 409
    # predefined profiles and names do not change
    assert (
        api.c.put(f"/osImages/{q(BASIC)}", json={"profile": {"description": "x"}}).status_code
        == 400
    )
    r = api.c.put(f"/osImages/{q(CUSTOM)}", json={"profile": {"name": "other"}})
    assert r.status_code == 400 and "profile.name" in r.text

    # a kickstart file's text, through LXCA's shape for custom files
    new = KICKSTART + b"\n%post\necho changed\n%end\n"
    ks = stocked["ks"]
    old_blobs = set(ctx.blobs.keys())
    r = api.c.put(
        f"/osImages/{ks}?imageType=UNATTEND",
        json={
            "customUnattendFile": {"description": "kick", "version": "2", "content": new.decode()}
        },
    )
    assert r.status_code == 200, r.text
    (entry,) = [e for e in api.listing()["unattendFiles"] if e["id"] == ks]
    assert entry["sha256"] == sha256(new) and entry["size"] == len(new)
    assert entry["description"] == "kick" and entry["version"] == "2"
    assert api.c.get(f"/files/osImages/{ks}").content == new
    blobs = set(ctx.blobs.keys())  # (either store: local files or S3 objects)
    assert len(blobs - old_blobs) == 1 and len(old_blobs - blobs) == 1  # the old one gone
    # text that is not a kickstart file, a type that does not match, software text
    r = api.c.put(
        f"/osImages/{ks}?imageType=UNATTEND",
        json={"customUnattendFile": {"content": "\x00\x01binary"}},
    )
    assert r.status_code == 400
    assert api.c.get(f"/files/osImages/{ks}").content == new
    assert (
        api.c.put(f"/osImages/{ks}?imageType=CONFIG", json={"customConfigFile": {}}).status_code
        == 400
    )
    r = api.c.put(f"/osImages/{stocked['soft']}", json={"customSoftware": {"content": "x"}})
    assert r.status_code == 400 and "content" in r.text
    r = api.c.put(
        f"/osImages/{stocked['config']}",
        json={"customConfigFile": {"version": "3"}, "associatedFileId": "nosuch"},
    )
    assert r.status_code == 200  # associatedFileId outside the object is not read
    r = api.c.put(
        f"/osImages/{stocked['config']}", json={"customConfigFile": {"associatedFileId": "nosuch"}}
    )
    assert r.status_code == 400 and "associatedFileId" in r.text
    assert api.c.put("/osImages/nosuch", json={"description": "x"}).status_code == 404


SETTINGS = {
    "category": "dynamic",
    "content": [
        {
            "category": "dynamic",
            "common": False,
            "name": "server-settings",
            "optional": False,
            "template": [
                {
                    "category": "dynamic",
                    "name": "node",
                    "type": "assoc_array",
                    "content": [
                        {
                            "name": "locale",
                            "type": "string",
                            "choices": ["en_US", "ja_JP", "pt_BR"],
                            "value": "en_US",
                            "label": "OS Locale",
                        },
                        {"name": "port", "type": "integer", "value": 80, "min": 1, "max": 65535},
                    ],
                }
            ],
            "type": "assoc_array",
        },
        {"name": "ntp", "type": "string", "category": "static", "value": "pool.ntp.org"},
    ],
    "description": "Custom configuration file",
    "type": "assoc_array",
}


def test_custom_settings_are_validated_into_macros(api: Api) -> None:
    r = api.c.post("/osImages/customSettings", json={"customConfigValues": SETTINGS})
    assert r.status_code == 200, r.text
    macros = [m["macro"] for m in r.json()["customMacros"]]
    assert macros == ["#server-settings.node0.locale#", "#server-settings.node0.port#", "#ntp#"]
    assert r.json()["customMacros"][0]["repeated"] is True
    # as a JSON text, and as the reference's example writes it (a list of one)
    r = api.c.post("/osImages/customSettings", json={"customConfigValues": json.dumps(SETTINGS)})
    assert r.status_code == 200
    r = api.c.post("/osImages/customSettings", json=[{"customConfigValues": SETTINGS}])
    assert r.status_code == 200 and len(r.json()["customMacros"]) == 3


def test_wrong_custom_settings_get_a_report_of_every_place(api: Api) -> None:
    bad = json.loads(json.dumps(SETTINGS))
    node = bad["content"][0]["template"][0]["content"]
    node[0]["value"] = "xx_XX"
    node[1]["type"] = "float"
    bad["content"][1].pop("value")
    bad["content"].append({"name": "ntp", "type": "string"})
    r = api.c.post("/osImages/customSettings", json={"customConfigValues": bad})
    assert r.status_code == 400
    body = r.json()
    assert body["result"] == "failed" and body["messages"][0]["id"] == "FQXHMFC9045J"
    where = {e["location"] for e in body["errorReport"]}
    assert where == {
        "/content/0/template/0/content/0/value",
        "/content/0/template/0/content/1/type",
        "/content/1/value",
        "/content/2/name",
    }
    for raw in ("{not json", 5, {"content": "x"}):
        r = api.c.post("/osImages/customSettings", json={"customConfigValues": raw})
        assert r.status_code == 400 and r.json()["errorReport"], raw
    assert api.c.post("/osImages/customSettings", json={"x": 1}).status_code == 412
    # bounded: a deep or huge document is refused without walking all of it
    deep: dict[str, Any] = {"name": "leaf", "type": "string"}
    for i in range(40):
        deep = {"name": f"n{i}", "type": "assoc_array", "content": [deep]}
    r = api.c.post("/osImages/customSettings", json={"customConfigValues": {"content": [deep]}})
    assert r.status_code == 400 and "deeper" in r.text


# -- export and re-import -------------------------------------------------------------


def export(api: Api, pid: str = CUSTOM, **query: str) -> dict[str, Any]:
    extra = "".join(f"&{k}={quote(v, safe='')}" for k, v in query.items())
    r = api.c.get(f"/osImages/{q(pid)}?x=1{extra}")
    assert r.status_code == 200, r.text
    assert r.json()["jobID"] == r.json()["jobId"]
    return wait(api, r.json()["jobId"])


def members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isreg()}  # type: ignore[union-attr]


@pytest.fixture
def second(tmp_path: Path) -> Iterator[Api]:
    """A second, fresh osdepot (its own data folder and catalog)."""
    s = Settings(
        data_dir=tmp_path / "second",
        admin_user=ADMIN,
        admin_password=ADMIN_PW,
        upload_buffer_bytes=64 * 1024,
        progress_interval=0.0,
    )
    c = open_context(s)
    recover(c)
    Auth(c).bootstrap_admin()
    with TestClient(create_app(s, c), base_url="https://testserver") as client:
        other = Api(client)
        other.login(ADMIN, ADMIN_PW)
        yield other
    c.close()


def test_an_export_goes_to_a_second_server_and_comes_back_identical(
    api: Api, stocked: dict[str, str], second: Api
) -> None:
    assert customise(api, stocked).status_code == 201
    task = export(api)
    assert task["status"] == "Complete", task
    assert task["typeId"] == "OSImageExport" and CUSTOM in task["description"]
    text = json.dumps(task["messages"])
    assert "FQXHMFC9044I" in text and "Custom_web.tar.gz" in text
    name = f"{IMAGE}-x86_64-install-Custom_web.tar.gz"
    (stored,) = api.listing()["osProfileFiles"]
    assert stored["name"] == name
    # the archive by its name (§4.2) and as a stored file, with Range
    archive = api.c.get(f"/osImages/{quote(name)}")
    assert archive.status_code == 200 and archive.headers["etag"] == f'"{stored["sha256"]}"'
    assert archive.content == api.c.get(f"/files/osImages/{stored['id']}").content
    part = api.c.get(f"/osImages/{quote(name)}", headers={"Range": "bytes=0-9"})
    assert part.status_code == 206 and part.content == archive.content[:10]
    got = members(archive.content)
    manifest = json.loads(got["manifest.json"])
    assert manifest["files"][0]["path"] == "profile.json"
    for m in manifest["files"]:
        assert hashlib.sha256(got[m["path"]]).hexdigest() == m["sha256"]
    definition = json.loads(got["profile.json"])
    assert definition["osImage"]["sha256"] == sha256(ISO)
    assert len(manifest["files"]) == 6  # profile.json + five files

    # the second server: no OS image yet → refused, naming it; nothing stored
    r = second.upload(second.init("OSPROFILE"), name, archive.content)
    assert r.status_code == 409 and r.json()["messages"][0]["id"] == "FQXHMFC9043J"
    assert IMAGE in r.text and "rhel.iso" in r.text
    assert second.listing()["osProfileFiles"] == []
    second.import_file("OS", "rhel.iso", ISO)
    r = second.upload(second.init("OSPROFILE"), name, archive.content)
    assert r.status_code == 201, r.text
    mine, theirs = api.listing(), second.listing()
    assert (
        profile_entry(second, CUSTOM)["customizationOptions"]
        == profile_entry(api, CUSTOM)["customizationOptions"]
    )
    for group in (
        "deviceDrivers",
        "installScriptFiles",
        "softwareFiles",
        "unattendFiles",
        "configFiles",
    ):
        a = {(f["id"], f["name"], f["sha256"], f["type"], f["os"]) for f in mine[group]}
        b = {(f["id"], f["name"], f["sha256"], f["type"], f["os"]) for f in theirs[group]}
        assert a == b, group
    for f in theirs["installScriptFiles"]:
        assert second.c.get(f"/files/osImages/{f['id']}").content == SCRIPT
    # once is enough: the same archive again names the profile that exists
    r = second.upload(second.init("OSPROFILE"), name, archive.content)
    assert r.status_code == 409 and CUSTOM in r.text


def test_predefined_and_unknown_profiles_are_not_exported(
    api: Api, stocked: dict[str, str]
) -> None:
    r = api.c.get(f"/osImages/{q(BASIC)}")
    assert r.status_code == 400 and "predefined" in r.text
    assert api.c.get("/osImages/nosuch%7Cx").status_code == 404
    assert api.c.get("/osImages/nosuch.tar.gz").status_code == 404
    assert customise(api, stocked).status_code == 201
    assert api.c.get(f"/osImages/{q(CUSTOM)}?path=/x.tar.gz").status_code == 412
    assert api.c.get(f"/osImages/{q(CUSTOM)}?serverId=77&path=/x.tar.gz").status_code == 412
    assert api.c.get(f"/osImages/{q(CUSTOM)}?serverId=abc&path=/x").status_code == 404


def test_an_export_that_cannot_fit_is_refused_at_once(
    api: Api, stocked: dict[str, str], ctx: Context
) -> None:
    assert customise(api, stocked).status_code == 201
    used = ctx.catalog.usage().bytes_stored
    ctx.settings = replace(ctx.settings, max_repository_bytes=used + 1000)
    r = api.c.get(f"/osImages/{q(CUSTOM)}")
    assert r.status_code == 409 and r.json()["messages"][0]["id"] == "FQXHMFC9004M", r.text
    assert [t for t in api.c.get("/tasks").json() if t["typeId"] == "OSImageExport"] == []


def tamper_sha(definition: dict[str, Any], members: list[Any]) -> None:
    m, data = members[0]
    members[0] = (m, data[:-1] + bytes([data[-1] ^ 0x20]))  # bytes change, manifest not


def escape(definition: dict[str, Any], members: list[Any]) -> None:
    m, data = members[0]
    members[0] = (type(m)("files/../../etc/cron.d/x", m.size, m.sha256, m.file), data)


def unused(definition: dict[str, Any], members: list[Any]) -> None:
    definition["customizationOptions"]["customScriptOptions"]["customScriptIds"] = []


def foreign(definition: dict[str, Any], members: list[Any]) -> None:
    definition["customizationOptions"]["unattendOptions"]["unattendFileIds"] = ["post.sh"]
    definition["customizationOptions"]["customScriptOptions"]["customScriptIds"] = []


def _extra_member(data: bytes) -> bytes:
    """The archive with one member more than its manifest lists."""
    import gzip

    raw = gzip.decompress(data)
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(raw)) as src,
        tarfile.open(fileobj=out, mode="w:gz") as dst,
    ):
        for m in src:
            dst.addfile(m, src.extractfile(m))
        extra = tarfile.TarInfo("files/99-evil.sh")
        extra.size = 3
        dst.addfile(extra, io.BytesIO(b"bad"))
    return out.getvalue()


@pytest.mark.parametrize(
    ("archive", "words"),
    [
        (profile_archive(tamper=tamper_sha), "SHA-256 of files/01-post.sh"),
        (profile_archive(tamper=escape), "'..'"),
        (profile_archive(tamper=unused), "does not use"),
        (profile_archive(tamper=foreign), "SCRIPT file"),
        (profile_archive(medium_sha256="0" * 64), "another medium"),
        (_extra_member(profile_archive()), "does not list"),
        (profile_archive()[:-30], "truncated"),
        (
            profile_archive(files={"k": ("UNATTEND", "ks.ks", b"\x00\x01 not a kickstart")}),
            "not a valid UNATTEND",
        ),
    ],
)
def test_a_bad_archive_is_refused_and_leaves_nothing(
    api: Api, ctx: Context, archive: bytes, words: str
) -> None:
    api.import_file("OS", "rhel.iso", ISO)
    before = (api.listing(), sorted(ctx.blobs.keys()))
    r = api.upload(api.init("OSPROFILE"), "custom.tar.gz", archive)
    assert r.status_code in (400, 409), r.text
    assert words in json.dumps(r.json()["messages"]), r.text
    assert (api.listing(), sorted(ctx.blobs.keys())) == before


def test_files_the_repository_holds_are_not_stored_twice(api: Api, ctx: Context) -> None:
    api.import_file("OS", "rhel.iso", ISO)
    script = api.import_file("SCRIPT", "post.sh", SCRIPT, os="rhel")
    r = api.upload(api.init("OSPROFILE"), "custom.tar.gz", profile_archive())
    assert r.status_code == 201, r.text
    assert profile_entry(api, CUSTOM)["customizationOptions"]["customScriptOptions"] == {
        "customScriptIds": [script]
    }
    assert len(api.listing()["installScriptFiles"]) == 1


def test_a_file_of_the_repository_deleted_during_an_archive_import_is_a_404(
    api: Api, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The archive's script is one the repository holds (so it is not stored twice),
    and that file is deleted while the archive is being read: an assertion failed (a
    500). Now 404 naming the file, and nothing of the archive is kept."""
    api.import_file("OS", "rhel.iso", ISO)
    script = api.import_file("SCRIPT", "post.sh", SCRIPT, os="rhel")
    before = sorted(ctx.blobs.keys())
    get_file = ctx.catalog.get_file
    monkeypatch.setattr(
        ctx.catalog, "get_file", lambda fid: None if fid == script else get_file(fid)
    )
    r = api.upload(api.init("OSPROFILE"), "custom.tar.gz", profile_archive())
    assert r.status_code == 404, r.text
    msg = r.json()["messages"][0]
    assert script in msg["text"] and "deleted just now" in msg["explanation"], msg
    assert sorted(ctx.blobs.keys()) == before
    assert {p["type"] for i in api.listing()["items"] for p in i["profiles"]} == {"predefined"}


def test_a_file_of_the_repository_deleted_before_an_archive_import_commits_is_a_404(
    api: Api, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same file deleted after the archive was read, before its commit: the
    profile's row failed on the file's foreign key, read as the archive's file id taken:
    a hundred commits under other ids, then 409 "File … already exists". Now 404
    naming the deleted file at the first, and nothing of the archive is kept."""
    api.import_file("OS", "rhel.iso", ISO)
    script = api.import_file("SCRIPT", "post.sh", SCRIPT, os="rhel")
    before = sorted(ctx.blobs.keys())
    commit = ctx.catalog.commit_import
    deleted: list[str] = []

    def deleted_first(*args: Any, **kwargs: Any) -> None:
        if not deleted:  # another request's deletion, just before
            deleted.extend(ctx.catalog.delete_objects([script]))
        commit(*args, **kwargs)

    monkeypatch.setattr(ctx.catalog, "commit_import", deleted_first)
    job = api.init("OSPROFILE")
    r = api.upload(job, "custom.tar.gz", profile_archive())
    assert r.status_code == 404, r.text
    msg = r.json()["messages"][0]
    assert script in msg["text"] and "deleted just now" in msg["explanation"], msg
    assert wait(api, job)["status"] == "Stopped"
    assert (
        sorted(ctx.blobs.keys()) == before
    )  # nothing of the archive (the catalog alone forgot the script)
    assert {p["type"] for i in api.listing()["items"] for p in i["profiles"]} == {"predefined"}
    assert script not in {f["id"] for f in api.listing()["osProfileFiles"]}


def test_two_archives_bringing_the_same_file_at_once_say_which_file(
    api: Api, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two profiles exported from one repository, sharing a script this repository
    does not hold, imported at the same moment: both bring the script under its id,
    and the second commit failed on it — read as its own archive's id taken: a hundred
    commits under other ids, then 409 "File <the archive> already exists". Now one
    answer at once, naming the script; the other profile is imported."""
    api.import_file("OS", "rhel.iso", ISO)
    side_by_side(monkeypatch, ctx.catalog, "commit_import")  # both archives read first
    answers = at_once(
        lambda: api.upload(api.init("OSPROFILE"), "web.tar.gz", profile_archive(name="web")),
        lambda: api.upload(api.init("OSPROFILE"), "db.tar.gz", profile_archive(name="db")),
    )
    assert sorted(r.status_code for r in answers) == [201, 409], [r.text for r in answers]
    (refused,) = [r.json()["messages"][0] for r in answers if r.status_code == 409]
    assert refused["text"].startswith("File post.sh already exists"), refused
    customs = [p for i in api.listing()["items"] for p in i["profiles"] if p["type"] == "custom"]
    assert len(customs) == 1
    stored = sorted(f.id.split("_")[-1] for f in ctx.catalog.list_files())
    assert stored in (["db.tar.gz", "post.sh", "rhel.iso"], ["post.sh", "rhel.iso", "web.tar.gz"])


def test_an_image_holds_a_bounded_number_of_customised_profiles(
    api: Api, stocked: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from osdepot.services import profiles

    monkeypatch.setattr(profiles, "MAX_CUSTOM_PROFILES", 2)
    assert customise(api, stocked, "one").status_code == 201
    assert customise(api, stocked, "two").status_code == 201
    r = customise(api, stocked, "three")
    assert r.status_code == 409, r.text
    msg = r.json()["messages"][0]
    assert msg["id"] == "FQXHMFC9065J" and "2 customised profiles" in msg["text"]
    (image,) = [i for i in api.listing()["items"] if i["id"] == IMAGE]
    assert sorted(p["name"] for p in image["profiles"] if p["type"] == "custom") == [
        "one",
        "two",
    ]


def test_customised_profiles_made_at_the_same_instant_stay_bounded(
    api: Api, stocked: dict[str, str], ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The image's customised profiles were counted before the transaction that adds
    one: requests at the same instant each found room, and all were added. Counted
    in the insert's transaction now: one of them is refused."""
    from osdepot.services import profiles

    monkeypatch.setattr(profiles, "MAX_CUSTOM_PROFILES", 2)
    assert customise(api, stocked, "one").status_code == 201
    side_by_side(monkeypatch, ctx.catalog, "add_profile")  # both have counted, before
    answers = at_once(
        lambda: customise(api, stocked, "two").status_code,
        lambda: customise(api, stocked, "three").status_code,
    )
    assert sorted(answers) == [201, 409]
    (image,) = [i for i in api.listing()["items"] if i["id"] == IMAGE]
    assert len([p for p in image["profiles"] if p["type"] == "custom"]) == 2


def test_an_export_whose_file_is_deleted_meanwhile_says_so(
    api: Api, stocked: dict[str, str], ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file of the profile gone by the time the archive reaches it: the job was
    Stopped "internal error" (the store's FileNotFoundError in the writer's thread)."""
    assert customise(api, stocked).status_code == 201

    def gone(key: str) -> Any:
        raise FileNotFoundError(key)

    monkeypatch.setattr(ctx.blobs, "open", gone)
    r = api.c.get(f"/osImages/{q(CUSTOM)}")
    assert r.status_code == 200, r.text
    task = wait(api, r.json()["jobId"])
    assert task["status"] == "Stopped", task
    assert "deleted just now" in task["messages"][0]["explanation"], task
    assert api.listing()["osProfileFiles"] == []


def cancel_export_within(api: Api, monkeypatch: pytest.MonkeyPatch, obj: Any, name: str) -> None:
    """Export the customised profile and cancel its job while ``obj.name`` (a store
    call, run in a thread) has done its work but not returned yet (it then sleeps
    0.5 s); back when the job is Cancelled and the thread has returned."""
    import threading

    done, real = threading.Event(), getattr(obj, name)

    def slow(*args: Any, **kwargs: Any) -> Any:
        answer = real(*args, **kwargs)
        done.set()
        time.sleep(0.5)  # the cancel arrives before the thread returns
        return answer

    monkeypatch.setattr(obj, name, slow)
    r = api.c.get(f"/osImages/{q(CUSTOM)}")
    assert r.status_code == 200, r.text
    job = r.json()["jobId"]
    assert done.wait(10)
    r = api.c.put("/tasks", json={"action": "cancel", "list": [job]})
    assert r.status_code == 200, r.text
    assert wait(api, job)["status"] == "Cancelled"
    time.sleep(0.6)  # what the store's thread does, done


def test_an_export_cancelled_while_its_archive_is_stored_leaves_nothing(
    api: Api, stocked: dict[str, str], ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cancel stops an export's background task at once; arriving while the store
    promoted the finished archive (a thread), the task let go of that thread, which
    went on: its blob stayed in the store with no catalog row (`osdepot fsck`: an
    orphan; seen on the two-node cluster under racing load). The commit is now run to
    its end first: the job is Cancelled and nothing is left."""
    assert customise(api, stocked).status_code == 201
    before = sorted(ctx.blobs.keys())
    cancel_export_within(api, monkeypatch, ctx.blobs, "commit")
    assert sorted(ctx.blobs.keys()) == before  # before: the archive's blob, orphaned
    assert not [f for f in ctx.catalog.list_files() if f.name.endswith("Custom_web.tar.gz")]


def test_an_export_cancelled_while_its_staging_is_made_leaves_nothing(
    api: Api, stocked: dict[str, str], ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same at the other end: a cancel while the store made the export's staging
    area (a thread) left that area behind, owned by no job (`osdepot fsck`: staging
    leftovers of 0 bytes, two in 90 s of racing load with cancelled pulls on the
    two-node cluster, where an S3 multipart upload stays until aborted)."""
    assert customise(api, stocked).status_code == 201
    cancel_export_within(api, monkeypatch, ctx.blobs, "create_staging")
    assert staging_files(ctx.settings) == []  # before: the export's staging area


@pytest.mark.parametrize("blobs", ["s3"])
def test_an_export_cancelled_while_s3_completes_its_archive_leaves_nothing(
    api: Api, stocked: dict[str, str], ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On an object store the archive's object is made whole when its staging
    finishes (the multipart upload completed, a thread), before the commit; a cancel
    meanwhile aborted an upload that was being completed, and the object stayed with
    no catalog row (`osdepot fsck`: orphans of pulls cancelled on the two-node
    cluster)."""
    assert customise(api, stocked).status_code == 201
    before = sorted(ctx.blobs.keys())
    client: Any = ctx.blobs.s3  # type: ignore[attr-defined]
    cancel_export_within(api, monkeypatch, client, "complete_multipart_upload")
    assert sorted(ctx.blobs.keys()) == before  # before: the completed archive's object
    assert staging_files(ctx.settings) == []


def test_a_profile_whose_image_is_deleted_meanwhile_is_not_made(
    api: Api, stocked: dict[str, str], ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The OS image deleted between the request's checks and the profile's row: it was
    answered 409 "Profile … already exists" (the catalog read every integrity error as
    a duplicate)."""
    add_profile = ctx.catalog.add_profile

    def image_gone_then_add(profile: Any, *more: Any) -> None:
        for key in ctx.catalog.delete_objects([IMAGE]):
            ctx.blobs.delete(key)
        add_profile(profile, *more)

    monkeypatch.setattr(ctx.catalog, "add_profile", image_gone_then_add)
    r = customise(api, stocked)
    assert r.status_code == 404, r.text
    msg = r.json()["messages"][0]
    assert msg["text"] == f"OS image {IMAGE} does not exist.", msg
    assert "deleted while the profile was being saved" in msg["explanation"]
    assert api.listing()["items"] == []
