from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest

from osdepot.services.context import Context
from tests.conftest import Api, blob_paths, sha256, staging_files, stored_blobs
from tests.media import medium_bytes
from tests.samples import VALID, asc_bytes, zip_bytes

ISO = medium_bytes("rhel", version="9.4")


@pytest.mark.parametrize(
    "body",
    [
        {"Action": "Init"},
        {"Action": "init"},
        {"action": "INIT"},
        {"Action": "Init", "fileSize": 10},
        {"Action": "Init", "fileSize": "10"},
    ],
)
def test_init_variants(api: Api, body: dict[str, object]) -> None:
    for path in ("/osImages", "/osImages/"):
        r = api.c.post(path + "?imageType=DUD", json=body)
        assert r.status_code == 201, r.text
        assert r.json()["result"] == "success" and r.json()["jobId"].isdigit()
        assert r.json()["messages"] == []


def test_init_defaults_and_aliases(api: Api) -> None:
    job = api.init("CUSTOM_CONFIG")
    assert api.task(job)["imageType"] == "CONFIG"
    r = api.c.post("/osImages", json={"Action": "Init"})
    assert api.task(r.json()["jobId"])["imageType"] == "OS"
    assert api.task(job)["status"] == "Pending"


@pytest.mark.parametrize(
    ("query", "body"),
    [
        ("?imageType=ISO", {"Action": "Init"}),
        ("", {"Action": "Start"}),
        ("", {}),
        ("", {"Action": "Init", "fileSize": "ten"}),
        ("", {"Action": "Init", "fileSize": -1}),
        ("", {"Action": "Init", "fileSize": True}),
        ("", ["Init"]),
    ],
)
def test_init_refusals(api: Api, query: str, body: object) -> None:
    r = api.c.post("/osImages" + query, json=body)
    assert r.status_code == 400, r.text
    msg = r.json()["messages"][0]
    assert r.json()["result"] == "failed" and msg["id"].startswith("FQXHMFC")
    assert msg["text"] and msg["explanation"] and msg["recovery"]["text"]


@pytest.mark.local_store
def test_init_refused_when_space_is_short(api: Api, ctx: Context) -> None:
    ctx.settings = replace(ctx.settings, max_repository_bytes=1000)
    api.init("SCRIPT", fileSize=600)
    r = api.c.post("/osImages?imageType=SCRIPT", json={"Action": "Init", "fileSize": 600})
    assert r.status_code == 409
    msg = r.json()["messages"][0]
    assert msg["id"] == "FQXHMFC9004M"
    assert "600 are reserved" in msg["explanation"]
    free = ctx.blobs.free_bytes() or 0
    ctx.settings = replace(ctx.settings, max_repository_bytes=0)
    r = api.c.post("/osImages?imageType=OS", json={"Action": "Init", "fileSize": 2 * free + 1})
    assert r.status_code == 409 and "bytes free" in r.json()["messages"][0]["explanation"]


def test_os_import_end_to_end(api: Api, ctx: Context) -> None:
    job = api.init("OS", fileSize=len(ISO))
    r = api.upload(
        job,
        "RHEL-9.4.iso",
        ISO,
        {"checksumType": "sha256", "checksumValue": sha256(ISO)},
        imageType="OS",
        imageName="rhels9.4",
        os="rhel",
        osrelease="9.4",
        description="RHEL%209.4%20DVD",
    )
    assert r.status_code == 201, r.text
    fileid = r.json()["fileid"]
    assert fileid.endswith("_RHEL-9.4.iso") and r.json()["result"] == "success"
    task = api.task(job)
    assert (task["status"], task["percentage"], task["complete"]) == ("Complete", 100, True)
    assert task["fileId"] == fileid and task["messages"][0]["id"] == "FQXHMFC9009I"
    listing = api.listing()
    (item,) = listing["items"]
    assert item["id"] == "rhels9.4" and item["osrelease"] == "9.4"
    assert item["sha256"] == sha256(ISO) and item["size"] == len(ISO)
    assert item["fileId"] == fileid and item["fileName"] == "RHEL-9.4.iso"
    assert item["importedBy"] == "admin" and item["description"] == "RHEL 9.4 DVD"
    assert [p["id"] for p in item["profiles"]] == [
        "rhels9.4|rhels9.4-x86_64-install-Basic",
        "rhels9.4|rhels9.4-x86_64-install-Minimal",
        "rhels9.4|rhels9.4-x86_64-install-Virtualization",
    ]
    blobs = stored_blobs(ctx.settings)
    assert len(blobs) == 1
    with ctx.blobs.open(blobs[0]) as stored:
        assert stored.read() == ISO
    assert staging_files(ctx.settings) == []


def test_every_group_is_listed(api: Api) -> None:
    api.import_file("OS", "base.iso", ISO, imageName="rhel8", os="rhel")
    groups = {
        "BOOT": "bootFiles",
        "BUNDLE": "bundleFiles",
        "CONFIG": "configFiles",
        "DUD": "deviceDrivers",
        "OSPROFILE": "osProfileFiles",
        "SCRIPT": "installScriptFiles",
        "SOFTWARE": "softwareFiles",
        "UNATTEND": "unattendFiles",
    }
    cases = []
    for itype, (name, q, content) in VALID.items():
        if itype == "DUD":
            q = {**q, "imageName": "rhels9.4"}
        cases.append((itype, name, groups[itype], q, content))
    ids = {}
    for itype, name, _group, q, content in cases:
        ids[itype] = api.import_file(itype, name, content, **q)
    listing = api.listing()
    for itype, name, group, _q, content in cases:
        (entry,) = [e for e in listing[group] if e["id"] == ids[itype]]
        assert entry["name"] == name and entry["type"] == itype
        assert entry["size"] == len(content) and entry["sha256"] == sha256(content)
        assert entry["importedBy"] == "admin" and entry["importedAt"].endswith("Z")
    assert listing["bootFiles"][0]["os"] == "win"
    assert listing["deviceDrivers"][0]["imageName"] == "rhels9.4"
    assert {s["id"] for s in listing["supportedImages"]} >= {"rhel", "sles", "windows", "esxi"}


def test_bundle_and_signature_share_a_job(api: Api) -> None:
    job = api.init("BUNDLE")
    assert (
        api.upload(
            job, "b.zip", zip_bytes({"a": b"b"}), imageType="BUNDLE", imageName="b.zip"
        ).status_code
        == 201
    )
    r = api.upload(job, "b.zip.asc", asc_bytes(), imageType="BUNDLESIG", imageName="b.zip.asc")
    assert r.status_code == 201, r.text
    r = api.upload(job, "c.zip.asc", b"x", imageType="BUNDLESIG")
    assert r.status_code == 409
    assert len(api.listing()["bundleFiles"]) == 2


def test_a_job_takes_one_file(api: Api) -> None:
    job = api.init("SCRIPT")
    assert api.upload(job, "a.sh", b"echo", os="rhel").status_code == 201
    r = api.upload(job, "b.sh", b"echo", os="rhel")
    assert r.status_code == 409 and r.json()["messages"][0]["id"] == "FQXHMFC9011J"


def test_only_the_creator_may_use_a_job(api: Api, make_api) -> None:  # type: ignore[no-untyped-def]
    other = make_api("lxc-os-admin")
    job = api.init("SCRIPT")
    r = other.upload(job, "a.sh", b"echo", os="rhel")
    assert r.status_code == 403 and r.json()["messages"][0]["id"] == "FQXHMFC9003J"
    assert api.task(job)["status"] == "Pending"
    assert api.upload(job, "a.sh", b"echo", os="rhel").status_code == 201


@pytest.mark.parametrize(
    ("itype", "name", "query", "status", "mid"),
    [
        ("SCRIPT", "a.sh", {}, 412, "FQXHMFC9002J"),  # os missing
        ("OS", "a.iso", {}, 400, "FQXHMFC9021J"),  # not a disc image
        ("DUD", "d.rpm", {"os": "rhel"}, 412, "FQXHMFC9002J"),  # imageName missing
        ("DUD", "d.rpm", {"os": "rhel", "imageName": "nope"}, 412, "FQXHMFC9005J"),
        ("SCRIPT", "a.exe", {"os": "windows"}, 412, "FQXHMFC9001J"),
        ("BOOT", "a.zip", {"os": "rhel"}, 412, "FQXHMFC9001J"),
        ("SCRIPT", "a.sh", {"os": "beos"}, 400, "FQXHMFC9010J"),
        ("OS", "a.iso", {"imageName": "a%01b"}, 400, "FQXHMFC9010J"),
        ("OS", "a.iso", {"imageName": "x", "imageType": "DUD"}, 400, "FQXHMFC9010J"),
    ],
)
def test_upload_refusals(
    api: Api, ctx: Context, itype: str, name: str, query: dict[str, str], status: int, mid: str
) -> None:
    job = api.init(itype)
    r = api.upload(job, name, b"data", None, **query)
    assert r.status_code == status, r.text
    assert r.json()["result"] == "failed" and r.json()["messages"][0]["id"] == mid
    assert stored_blobs(ctx.settings) == [] and staging_files(ctx.settings) == []


def test_import_parameters_are_given_once(api: Api, ctx: Context) -> None:
    """Starlette reads the last of two query parameters; a proxy or a log in front of
    osdepot may read the first (and jobId/jobID are one parameter spelt two ways): an
    import named ambiguously is refused, and nothing changes."""
    job, other = api.init("SCRIPT"), api.init("SCRIPT")
    tus = {"Tus-Resumable": "1.0.0", "Upload-Length": "5", "Upload-Metadata": "filename YS5zaA=="}
    for query, headers in (
        (f"/files/osImages?jobId={job}&jobId={other}&os=rhel", None),
        (f"/files/osImages?jobId={job}&jobID={other}&os=rhel", None),
        (f"/files/osImages?jobId={job}&os=rhel&checksumValue=a&checksumValue=b", None),
        (f"/files/osImages?jobId={job}&os=rhel&os=windows", None),
        ("/osImages?imageType=OS&imageType=SCRIPT", None),
        (f"/files/osImages/uploads?jobId={job}&os=rhel&os=sles", tus),
    ):
        if headers is None and "/files/" in query:
            r = api.c.post(query, files={"uploadedfile": ("a.sh", b"#!/bin/sh\n")})
        elif headers is None:
            r = api.c.post(query, json={"Action": "Init"})
        else:
            r = api.c.post(query, headers=headers)
        assert r.status_code == 400, (query, r.text)
        assert "more than once" in r.text or "two jobs" in r.text, r.text
    assert api.task(job)["status"] == api.task(other)["status"] == "Pending"
    assert len(api.c.get("/tasks").json()) == 2
    assert stored_blobs(ctx.settings) == [] and staging_files(ctx.settings) == []


def test_unknown_and_missing_job(api: Api) -> None:
    r = api.upload("99999", "a.sh", b"x", os="rhel")
    assert r.status_code == 404 and r.json()["messages"][0]["id"] == "FQXHMJM9001J"
    r = api.c.post("/files/osImages?os=rhel", files={"uploadedfile": ("a.sh", b"x")})
    assert r.status_code == 412
    assert api.upload("abc", "a.sh", b"x", os="rhel").status_code == 404


@pytest.mark.parametrize("algo", ["MD5", "SHA1", "SHA256", "SHA512"])
@pytest.mark.parametrize("before", [True, False])
def test_checksums_in_any_order(api: Api, algo: str, before: bool) -> None:
    data = b"payload" * 50000
    digest = hashlib.new(algo.lower(), data).hexdigest()
    job = api.init("SCRIPT", fileSize=len(data))
    parts = [("checksumType", (None, algo.lower())), ("checksumValue", (None, digest.upper()))]
    filepart = [("uploadedfile", ("a.sh", data, "application/octet-stream"))]
    files = parts + filepart if before else filepart + parts
    r = api.c.post(f"/files/osImages?jobId={job}&os=rhel", files=files)
    assert r.status_code == 201, r.text
    (entry,) = api.listing()["installScriptFiles"]
    assert entry["checksums"][algo.lower()] == digest


def test_checksum_in_query_string(api: Api) -> None:
    job = api.init("SCRIPT")
    r = api.upload(
        job,
        "a.sh",
        b"abc",
        os="rhel",
        checksumType="MD5",
        checksumValue="900150983cd24fb0d6963f7d28e17f72",
    )
    assert r.status_code == 201


def test_checksum_mismatch_stores_nothing(api: Api, ctx: Context) -> None:
    job = api.init("OS", fileSize=len(ISO))
    r = api.upload(
        job,
        "a.iso",
        ISO,
        {"checksumType": "SHA256", "checksumValue": "0" * 64},
        imageName="bad",
        os="rhel",
    )
    assert r.status_code == 409
    msg = r.json()["messages"][0]
    assert msg["id"] == "FQXHMFC0001M" and sha256(ISO) in msg["explanation"]
    task = api.task(job)
    assert task["status"] == "Stopped" and task["messageID"] == "FQXHMFC0001M"
    assert api.listing()["items"] == []
    assert stored_blobs(ctx.settings) == [] and staging_files(ctx.settings) == []


@pytest.mark.parametrize(
    ("ctype", "value"),
    [
        ("SHA256", ""),
        ("", "abc"),
        ("CRC32", "abc"),
        ("MD5", "xyz"),
        ("MD5", "0" * 31),
    ],
)
def test_bad_checksum_fields(api: Api, ctx: Context, ctype: str, value: str) -> None:
    job = api.init("SCRIPT")
    fields = {k: v for k, v in {"checksumType": ctype, "checksumValue": value}.items() if v}
    r = api.upload(job, "a.sh", b"abc", fields, os="rhel")
    assert r.status_code in (400, 412), r.text
    assert stored_blobs(ctx.settings) == [] and staging_files(ctx.settings) == []


@pytest.mark.parametrize("declared", [10, 10**6])
def test_size_must_match_the_declaration(api: Api, ctx: Context, declared: int) -> None:
    job = api.init("SCRIPT", fileSize=declared)
    r = api.upload(job, "a.sh", b"x" * 1000, os="rhel")
    assert r.status_code == 409 and r.json()["messages"][0]["id"] == "FQXHMFC9012J"
    assert api.task(job)["status"] == "Stopped"
    assert stored_blobs(ctx.settings) == [] and staging_files(ctx.settings) == []


def test_duplicate_os_image(api: Api) -> None:
    api.import_file("OS", "a.iso", ISO, imageName="rhel9", os="rhel")
    job = api.init("OS")
    r = api.upload(job, "b.iso", ISO, imageName="rhel9", os="rhel")
    assert r.status_code == 409 and r.json()["messages"][0]["id"] == "FQXHMFC9024J"
    assert "rhels9.4" in r.json()["messages"][0]["text"]
    assert api.task(job)["status"] == "Stopped" and len(api.listing()["items"]) == 1


def test_malformed_bodies(api: Api, ctx: Context) -> None:
    job = api.init("SCRIPT")
    url = f"/files/osImages?jobId={job}&os=rhel"
    bad = [
        ({"content-type": "text/plain"}, b"hello"),
        ({"content-type": "multipart/form-data; boundary=XX"}, b"--XX\r\nbroken"),
        (
            {"content-type": "multipart/form-data; boundary=XX"},
            b'--XX\r\nContent-Disposition: form-data; name="other"\r\n\r\nv\r\n--XX--',
        ),
        (
            {"content-type": "multipart/form-data; boundary=XX"},
            b'--XX\r\nContent-Disposition: form-data; name="uploadedfile"\r\n\r\nv\r\n--XX--',
        ),
    ]
    for headers, content in bad:
        r = api.c.post(url, headers=headers, content=content)
        # Neither multipart nor JSON (a remote import): 415, the media type is wrong.
        wrong_type = headers["content-type"] == "text/plain"
        assert r.status_code == (415 if wrong_type else 400), r.text
        assert r.json()["result"] == "failed"
    r = api.c.post(
        url,
        headers={"content-type": "multipart/form-data; boundary=XX"},
        content=b'--XX\r\nContent-Disposition: form-data; name="uploadedfile"; '
        b'filename="a.sh"\r\n\r\nabc',
    )  # no closing boundary
    assert r.status_code == 400
    assert staging_files(ctx.settings) == [] and stored_blobs(ctx.settings) == []


def test_remote_import_from_an_unregistered_server(api: Api) -> None:
    job = api.init("OS")
    r = api.c.post(
        f"/files/osImages?jobId={job}&imageName=x&imageType=OS",
        json={"serverId": "1", "path": "/a.iso"},
    )
    assert r.status_code == 412 and r.json()["messages"][0]["id"] == "FQXHMFC9029J"
    assert api.task(job)["status"] == "Pending"


def test_hostile_file_names_stay_labels(api: Api, ctx: Context) -> None:
    fid = api.import_file("SCRIPT", "../../../../tmp/evil.sh", b"x", os="rhel")
    assert fid.endswith("_evil.sh")
    blobs = stored_blobs(ctx.settings)
    assert len(blobs) == 1 and len(blobs[0]) == 32  # a random key, never the name
    for p in blob_paths(ctx.settings):  # (a local store's files)
        assert p.resolve().is_relative_to((ctx.settings.data_dir / "blobs").resolve())


def test_expired_job(api: Api, ctx: Context) -> None:
    from osdepot.services.jobs import Jobs

    job = api.init("SCRIPT")
    ctx.settings = replace(ctx.settings, job_expiry=0)
    assert Jobs(ctx).housekeeping()[0] == 1
    task = api.task(job)
    assert task["status"] == "Stopped" and task["messageID"] == "FQXHMFC9019J"
    r = api.upload(job, "a.sh", b"x", os="rhel")
    assert r.status_code == 409 and r.json()["messages"][0]["id"] == "FQXHMFC9019J"


@pytest.mark.local_store
def test_full_disk_while_writing_stores_nothing(
    api: Api, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from osdepot.storage.localfs import LocalStaging

    def no_space(self: LocalStaging, data: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(LocalStaging, "write", no_space)
    job = api.init("OS")
    r = api.upload(job, "a.iso", ISO * 100, imageName="full", os="rhel")
    assert r.status_code == 409
    assert r.json()["messages"][0]["id"] == "FQXHMFC9004M"
    assert "ran out of space" in r.json()["messages"][0]["explanation"]
    assert api.task(job)["status"] == "Stopped"
    assert stored_blobs(ctx.settings) == [] and staging_files(ctx.settings) == []
    monkeypatch.undo()
    assert api.import_file("SCRIPT", "after.sh", b"still serving", os="rhel")


@pytest.mark.local_store
def test_a_write_failing_midway_is_the_last_write(
    api: Api, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Buffers queued behind a failed write are not written (64 KiB buffers here)."""
    import errno

    from osdepot.storage.localfs import LocalStaging

    real = LocalStaging.write
    calls: list[int] = []

    def third_fails(self: LocalStaging, data: memoryview) -> None:
        calls.append(len(data))
        if len(calls) == 3:
            raise OSError(errno.EIO, "Input/output error")
        real(self, data)

    monkeypatch.setattr(LocalStaging, "write", third_fails)
    job = api.init("OS")
    body = ISO * 100
    assert len(body) > 8 * ctx.settings.upload_buffer_bytes
    r = api.upload(job, "a.iso", body, imageName="eio", os="rhel")
    assert r.status_code == 500, r.text
    assert "could not be written: Input/output error" in r.json()["messages"][0]["explanation"]
    assert len(calls) == 3
    assert api.task(job)["status"] == "Stopped"
    assert stored_blobs(ctx.settings) == [] and staging_files(ctx.settings) == []


def test_an_import_frees_its_buffers_without_waiting_for_the_garbage_collector(
    api: Api,
) -> None:
    # Each import holds three upload buffers; a reference cycle between the import and
    # its byte path kept them (12 MiB with the default buffers) until a full garbage
    # collection, which can be long in coming: the benchmark's idle server held 110 MiB.
    import gc

    from osdepot.services.import_run import ImportRun

    gc.collect()
    gc.disable()
    try:
        for _ in range(3):
            api.import_file("SCRIPT", "post.sh", b"#!/bin/sh\necho hello\n" * 1000, os="rhel")
        alive = [o for o in gc.get_objects() if isinstance(o, ImportRun)]
        assert alive == []
    finally:
        gc.enable()
