"""Resumable uploads through the application (tus 1.0 and the IETF draft on one
resource): creation, offsets, appends, checksums, refusals, cancel, expiry, restart."""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import pytest

from osdepot.services.context import Context
from osdepot.services.jobs import Jobs
from osdepot.services.recovery import recover
from tests.conftest import Api, sha256, staging_files, stored_blobs
from tests.media import medium_bytes

ISO = medium_bytes("rhel", version="9.4")
TUS = {"Tus-Resumable": "1.0.0"}
IETF = {"Upload-Draft-Interop-Version": "6"}


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def meta(**kv: str) -> str:
    return ",".join(f"{k} {b64(v)}" for k, v in kv.items())


def create(api: Api, job: str, length: int | None, filename: str = "rhel.iso", **extra: Any) -> Any:
    headers = {**TUS, "Upload-Metadata": meta(filename=filename)}
    if length is not None:
        headers["Upload-Length"] = str(length)
    headers.update(extra.pop("headers", {}))
    q = "&".join(f"{k}={v}" for k, v in {"jobId": job, "imageType": "OS", **extra}.items())
    return api.c.post(f"/files/osImages/uploads?{q}", headers=headers)


def patch(api: Api, url: str, offset: int, data: bytes, **headers: str) -> Any:
    h = {**TUS, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"}
    h.update(headers)
    return api.c.patch(url, content=data, headers=h)


def head(api: Api, url: str, headers: dict[str, str] = TUS) -> Any:
    return api.c.head(url, headers=headers)


def test_tus_upload_in_chunks_imports_the_file(api: Api, ctx: Context) -> None:
    job = api.init("OS")
    r = create(api, job, len(ISO))
    assert r.status_code == 201, r.text
    url = r.headers["location"]
    assert url.startswith("/files/osImages/uploads/") and r.headers["tus-resumable"] == "1.0.0"
    assert "GMT" in r.headers["upload-expires"]
    assert api.task(job)["status"] == "Running"
    step = 20000
    offset = 0
    while offset < len(ISO):
        h = head(api, url)
        assert h.status_code == 200 and int(h.headers["upload-offset"]) == offset
        assert h.headers["upload-length"] == str(len(ISO))
        assert h.headers["cache-control"] == "no-store"
        r = patch(api, url, offset, ISO[offset : offset + step])
        offset = min(offset + step, len(ISO))
        if offset < len(ISO):
            assert r.status_code == 204, r.text
            assert int(r.headers["upload-offset"]) == offset
            assert 0 < api.task(job)["percentage"] < 100
    assert r.status_code == 200, r.text
    assert r.headers["osdepot-job-status"] == "Complete"
    assert r.headers["osdepot-image-id"] == "rhels9.4" == r.json()["imageId"]
    assert api.task(job)["status"] == "Complete"
    f = ctx.catalog.get_file(r.json()["fileid"])
    assert f is not None and f.sha256 == sha256(ISO)
    assert not staging_files(ctx.settings)
    assert head(api, url).status_code == 404  # the upload ended with its import


def test_ietf_draft_upload_with_completion_flag(api: Api, ctx: Context) -> None:
    job = api.init("OS")
    r = api.c.post(
        f"/files/osImages/uploads?jobId={job}&imageType=OS",
        headers={
            **IETF,
            "Upload-Complete": "?0",
            "Content-Disposition": 'inline; filename="a.iso"',
        },
    )
    assert r.status_code == 201, r.text
    assert r.headers["upload-complete"] == "?0" and "min-size=0" in r.headers["upload-limit"]
    url = r.headers["location"]
    half = len(ISO) // 2
    h = {**IETF, "Content-Type": "application/partial-upload"}
    first = {**h, "Upload-Offset": "0", "Upload-Complete": "?0"}
    r = api.c.patch(url, content=ISO[:half], headers=first)
    assert r.status_code == 204 and r.headers["upload-offset"] == str(half)
    # a wrong offset: 409 with the expected offset, as a problem document
    r = api.c.patch(url, content=b"x", headers={**h, "Upload-Offset": "5", "Upload-Complete": "?0"})
    assert r.status_code == 409
    assert r.headers["upload-offset"] == str(half)
    assert r.json()["expected-offset"] == half and r.json()["provided-offset"] == 5
    assert r.headers["content-type"].startswith("application/problem+json")
    r = api.c.head(url, headers=IETF)
    assert r.headers["upload-offset"] == str(half) and r.headers["upload-complete"] == "?0"
    assert "upload-length" not in r.headers  # not told yet
    r = api.c.patch(
        url, content=ISO[half:], headers={**h, "Upload-Offset": str(half), "Upload-Complete": "?1"}
    )
    assert r.status_code == 200, r.text
    assert r.headers["upload-complete"] == "?1" and r.json()["imageId"] == "rhels9.4"
    assert ctx.catalog.get_file(r.json()["fileid"]).sha256 == sha256(ISO)  # type: ignore[union-attr]


def test_creation_with_upload_and_whole_file_checksum(api: Api) -> None:
    job = api.init("OS")
    r = api.c.post(
        f"/files/osImages/uploads?jobId={job}&imageType=OS",
        content=ISO,
        headers={
            **TUS,
            "Upload-Length": str(len(ISO)),
            "Content-Type": "application/offset+octet-stream",
            "Upload-Metadata": meta(
                filename="rhel.iso", checksumType="sha256", checksumValue=sha256(ISO)
            ),
        },
    )
    assert r.status_code == 200, r.text
    assert r.headers["location"].startswith("/files/osImages/uploads/")
    assert api.task(job)["status"] == "Complete"


def test_creation_with_upload_checks_the_bodys_checksums(api: Api, ctx: Context) -> None:
    """A creation that carries bytes treats them as a PATCH would: a bad
    Upload-Checksum drops them (460) and the upload goes on from byte 0; a malformed
    one is refused before any upload is made; Repr-Digest checks the whole file."""

    def creation(job: str, data: bytes, **headers: str) -> Any:
        return api.c.post(
            f"/files/osImages/uploads?jobId={job}&imageType=OS",
            content=data,
            headers={
                **TUS,
                "Upload-Length": str(len(ISO)),
                "Content-Type": "application/offset+octet-stream",
                "Upload-Metadata": meta(filename="rhel.iso"),
                **headers,
            },
        )

    part = ISO[:32768]
    bad = "sha1 " + base64.b64encode(hashlib.sha1(b"other").digest()).decode()
    job = api.init("OS")
    r = creation(job, part, **{"Upload-Checksum": bad})
    assert r.status_code == 460 and r.json()["messages"][0]["id"] == "FQXHMFC9058J", r.text
    url = r.headers["location"]
    assert head(api, url).headers["upload-offset"] == "0"
    assert api.task(job)["status"] == "Running"
    assert patch(api, url, 0, ISO).status_code == 200
    assert api.task(job)["status"] == "Complete"

    job = api.init("OS")
    r = creation(job, part, **{"Upload-Checksum": "sha256 !!!!"})
    assert r.status_code == 400 and "Upload-Checksum" in r.json()["messages"][0]["text"]
    assert api.task(job)["status"] == "Pending"  # no upload was made for it

    good = "sha256 " + base64.b64encode(hashlib.sha256(part).digest()).decode()
    r = creation(job, part, **{"Upload-Checksum": good})
    assert r.status_code == 201 and r.headers["upload-offset"] == str(len(part)), r.text

    other = "sha-256=:" + base64.b64encode(hashlib.sha256(b"other").digest()).decode() + ":"
    job = api.init("OS")
    r = creation(job, ISO, **{"Repr-Digest": other})
    assert r.status_code == 409 and r.json()["messages"][0]["id"] == "FQXHMFC0001M", r.text
    assert api.task(job)["status"] == "Stopped"


def test_headers_given_twice_and_names_in_any_script(api: Api, ctx: Context) -> None:
    """A header that has one value, given twice, is refused (which one counts would be
    a guess); a Content-Disposition file name that is not UTF-8 is refused; a file
    whose name is not ISO-8859-1 is answered with its id percent-encoded in the
    Osdepot-File-Id header (its JSON as it is) — it was a 500 after the commit."""
    script = b"#!/bin/sh\necho hi\n"
    job = api.init("SCRIPT")
    r = create(api, job, len(script), "a.sh", imageType="SCRIPT", os="rhel")
    url = r.headers["location"]
    octets = {**TUS, "Content-Type": "application/offset+octet-stream"}
    for twice in ("Upload-Offset", "Upload-Length", "Upload-Checksum"):
        value = {
            "Upload-Offset": ("0", "5"),
            "Upload-Length": (str(len(script)), "99"),
            "Upload-Checksum": ("sha1 " + base64.b64encode(hashlib.sha1(script).digest()).decode(),)
            * 2,
        }[twice]
        headers = [*octets.items(), ("Upload-Offset", "0")]
        headers = [h for h in headers if h[0] != twice] + [(twice, v) for v in value]
        r = api.c.patch(url, content=script, headers=headers)
        explanation = r.json()["messages"][0]["explanation"].lower()
        assert r.status_code == 400 and f"{twice.lower()} 2 times" in explanation, r.text
        assert head(api, url).headers["upload-offset"] == "0"
    job2 = api.init("SCRIPT")

    def named(encoded: str) -> Any:  # a whole file in one draft creation
        return api.c.post(
            f"/files/osImages/uploads?jobId={job2}&imageType=SCRIPT&os=rhel",
            content=script,
            headers={
                "Upload-Draft-Interop-Version": "6",
                "Upload-Complete": "?1",
                "Content-Disposition": f"attachment; filename*=UTF-8''{encoded}",
            },
        )

    r = named("%ff%fe.sh")
    assert r.status_code == 400 and "Content-Disposition" in r.text, r.text
    assert api.task(job2)["status"] == "Pending"
    r = named("%E6%97%A5%E6%9C%AC%20a.sh")
    assert r.status_code == 200, r.text
    fid = r.json()["fileid"]
    assert fid.endswith("_日本 a.sh")
    job3 = api.init("SCRIPT")  # the name as raw UTF-8 bytes, as curl sends it
    raw = api.c.post(
        f"/files/osImages/uploads?jobId={job3}&imageType=SCRIPT&os=rhel",
        content=script,
        headers=[
            (b"Upload-Draft-Interop-Version", b"6"),
            (b"Upload-Complete", b"?1"),
            (b"Content-Disposition", 'attachment; filename="日本 b.sh"'.encode()),
        ],
    )
    assert raw.status_code == 200 and raw.json()["fileid"].endswith("_日本 b.sh"), raw.text
    assert r.headers["osdepot-file-id"] == quote(fid, safe="!$&'()*+,;=:@~")
    assert api.c.get(f"/files/osImages/{r.headers['osdepot-file-id']}").content == script
    r = patch(api, url, 0, script)
    assert r.status_code == 200 and r.headers["osdepot-file-id"] == r.json()["fileid"]


def test_whole_file_checksum_mismatch_stops_the_job(api: Api, ctx: Context) -> None:
    job = api.init("OS")
    r = create(api, job, len(ISO), checksumType="SHA256", checksumValue="0" * 64)
    r = patch(api, r.headers["location"], 0, ISO)
    assert r.status_code == 409 and r.json()["messages"][0]["id"] == "FQXHMFC0001M"
    assert r.headers["osdepot-job-status"] == "Stopped"
    assert api.task(job)["status"] == "Stopped"
    assert not staging_files(ctx.settings) and not stored_blobs(ctx.settings)


def test_chunk_checksum_drops_a_bad_chunk_and_goes_on(api: Api) -> None:
    job = api.init("OS")
    url = create(api, job, len(ISO)).headers["location"]
    part = ISO[:32768]
    bad = "sha1 " + base64.b64encode(hashlib.sha1(b"other").digest()).decode()
    r = patch(api, url, 0, part, **{"Upload-Checksum": bad})
    assert r.status_code == 460 and r.json()["messages"][0]["id"] == "FQXHMFC9058J"
    assert head(api, url).headers["upload-offset"] == "0"
    good = "sha256 " + base64.b64encode(hashlib.sha256(part).digest()).decode()
    r = patch(api, url, 0, part, **{"Upload-Checksum": good})
    assert r.status_code == 204 and r.headers["upload-offset"] == str(len(part))
    for malformed in (
        "crc32 AAAA",  # an algorithm tus names but osdepot does not offer
        "sha256",  # no value
        "sha256 " + base64.b64encode(hashlib.sha1(part).digest()).decode(),  # a sha1's length
        "md5 !!!!",  # not base64
    ):
        r = patch(api, url, len(part), ISO[len(part) :], **{"Upload-Checksum": malformed})
        assert r.status_code == 400, (malformed, r.text)
        assert "Upload-Checksum" in r.json()["messages"][0]["text"]
        assert head(api, url).headers["upload-offset"] == str(len(part))
    r = patch(api, url, len(part), ISO[len(part) :])
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Tus-Resumable": "0.2.2"}, 412),
        ({"Upload-Metadata": "filename not-base64!"}, 400),
        ({"Upload-Metadata": "bad key " + b64("x")}, 400),
        ({"Upload-Length": "-1"}, 400),
        ({"Upload-Length": "ten"}, 400),
    ],
)
def test_creation_refusals(api: Api, ctx: Context, headers: dict[str, str], status: int) -> None:
    job = api.init("OS")
    r = create(api, job, len(ISO), headers=headers)
    assert r.status_code == status, r.text
    if status == 412:
        assert r.headers["tus-version"] == "1.0.0"
    else:
        assert r.json()["messages"][0]["explanation"]
    assert api.task(job)["status"] == "Pending"  # nothing claimed
    assert not staging_files(ctx.settings)


def test_creation_refusals_without_length_or_with_another_size(api: Api) -> None:
    job = api.init("OS", fileSize=len(ISO))
    assert create(api, job, None).status_code == 400
    r = create(api, job, len(ISO) + 1)
    assert r.status_code == 400 and r.json()["messages"][0]["id"] == "FQXHMFC9059J"
    assert create(api, job, len(ISO), filename="notes.txt").status_code == 412
    assert create(api, "999999", len(ISO)).status_code == 404
    assert create(api, job, len(ISO)).status_code == 201
    assert create(api, job, len(ISO)).status_code == 409  # the job is taken


def test_append_refusals_change_nothing(api: Api, ctx: Context) -> None:
    job = api.init("OS")
    url = create(api, job, len(ISO)).headers["location"]
    assert patch(api, url, 0, ISO[:4096]).status_code == 204
    # the wrong offset, bytes past the end, a wrong content type, no offset
    r = patch(api, url, 0, b"again")
    assert r.status_code == 409 and r.headers["upload-offset"] == "4096"
    r = patch(api, url, 4096, b"x" * len(ISO))
    assert r.status_code == 400 and r.json()["messages"][0]["id"] == "FQXHMFC9059J"
    r = patch(api, url, 4096, b"abc", **{"Content-Type": "application/json"})
    assert r.status_code == 415
    no_offset = {**TUS, "Content-Type": "application/offset+octet-stream"}
    r = api.c.patch(url, content=b"abc", headers=no_offset)
    assert r.status_code == 400
    assert head(api, url).headers["upload-offset"] == "4096"
    # unknown ids and other users' uploads are not found alike
    base = url.rpartition("/")[0]
    assert head(api, base + "/" + "0" * 32).status_code == 404
    assert head(api, base + "/../../osImages").status_code in (404, 405)
    r = patch(api, url, 4096, ISO[4096:])
    assert r.status_code == 200, r.text


def test_only_the_creator_continues(api: Api, make_api: Any) -> None:
    job = api.init("OS")
    url = create(api, job, len(ISO)).headers["location"]
    other = make_api("lxc-supervisor")
    assert head(other, url).status_code == 404
    assert patch(other, url, 0, ISO).status_code == 404
    assert other.c.delete(url, headers=TUS).status_code == 404
    assert head(api, url).status_code == 200


def test_terminate_and_cancel_free_the_bytes(api: Api, ctx: Context) -> None:
    job = api.init("OS")
    url = create(api, job, len(ISO)).headers["location"]
    patch(api, url, 0, ISO[:8192])
    assert staging_files(ctx.settings)
    r = api.c.delete(url, headers=TUS)
    assert r.status_code == 204 and r.headers["tus-resumable"] == "1.0.0"
    assert api.task(job)["status"] == "Cancelled"
    assert not staging_files(ctx.settings)
    assert head(api, url).status_code == 404
    # PUT /tasks cancel does the same for an upload between its requests
    job = api.init("OS")
    url = create(api, job, len(ISO)).headers["location"]
    patch(api, url, 0, ISO[:8192])
    r = api.c.put(f"/tasks/{job}", json={"cancelRequest": "true"})
    assert r.status_code == 200, r.text
    assert api.task(job)["status"] == "Cancelled"
    assert not staging_files(ctx.settings)
    assert patch(api, url, 8192, ISO[8192:]).status_code == 404


def test_an_idle_upload_expires(api: Api, ctx: Context) -> None:
    from dataclasses import replace

    ctx.settings = replace(ctx.settings, upload_expiry=60)
    job = api.init("OS")
    url = create(api, job, len(ISO)).headers["location"]
    r = patch(api, url, 0, ISO[:8192])
    assert "GMT" in r.headers["upload-expires"]
    Jobs(ctx).housekeeping()
    assert api.task(job)["status"] == "Running"  # not idle for long enough
    now = ctx.clock()
    ctx.clock = lambda: now + 61
    Jobs(ctx).housekeeping()
    task = api.task(job)
    assert task["status"] == "Stopped"
    assert task["messageID"] == "FQXHMFC9061J" and "expired" in task["messageDisplay"]
    assert not staging_files(ctx.settings)
    assert head(api, url).status_code == 404


def test_an_upload_survives_a_restart(api: Api, ctx: Context) -> None:
    """Start-up recovery keeps the upload, its staging file and its Running job; the
    upload goes on at its recorded offset (the hashes read back at the end)."""
    job = api.init("OS")
    url = create(api, job, len(ISO)).headers["location"]
    patch(api, url, 0, ISO[:65536])
    ctx.resumable.clear()  # what a new process knows of it: nothing
    report = recover(ctx)
    assert report.jobs_failed == 0 and report.staging_removed == 0
    assert api.task(job)["status"] == "Running"
    assert head(api, url).headers["upload-offset"] == "65536"
    r = patch(api, url, 65536, ISO[65536:])
    assert r.status_code == 200, r.text
    assert ctx.catalog.get_file(r.json()["fileid"]).sha256 == sha256(ISO)  # type: ignore[union-attr]


def test_options_needs_no_login(app_client: Any) -> None:
    r = app_client.options("/files/osImages/uploads")
    assert r.status_code == 204
    assert r.headers["tus-version"] == "1.0.0"
    assert "creation-with-upload" in r.headers["tus-extension"]
    assert r.headers["tus-checksum-algorithm"] == "sha1,sha256,md5"
    assert "min-size=0" in r.headers["upload-limit"]


def test_open_uploads_per_user_are_bounded(api: Api, ctx: Context, monkeypatch: Any) -> None:
    from dataclasses import replace

    ctx.settings = replace(ctx.settings, max_open_uploads_per_user=2)
    for _ in range(2):
        assert create(api, api.init("OS"), len(ISO)).status_code == 201
    job = api.init("OS")
    r = create(api, job, len(ISO))
    assert r.status_code == 507 or r.status_code >= 400
    assert "resumable uploads open" in r.json()["messages"][0]["explanation"]
    assert api.task(job)["status"] == "Pending"


def test_repr_digest_on_the_last_request_checks_the_whole_file(api: Api) -> None:
    def digest(data: bytes) -> str:
        return "sha-256=:" + base64.b64encode(hashlib.sha256(data).digest()).decode() + ":"

    job = api.init("OS")
    url = create(api, job, len(ISO)).headers["location"]
    assert patch(api, url, 0, ISO[:4096]).status_code == 204
    short = "sha-256=:" + base64.b64encode(hashlib.sha1(ISO).digest()).decode() + ":"
    for malformed in ("sha-256=:not base64:", short, "crc32c=:AAAAAA==:"):
        r = patch(api, url, 4096, ISO[4096:], **{"Repr-Digest": malformed})
        assert r.status_code == 400 and head(api, url).headers["upload-offset"] == "4096"
        assert api.task(job)["status"] == "Running"
    r = patch(api, url, 4096, ISO[4096:], **{"Repr-Digest": digest(b"other")})
    assert r.status_code == 409 and r.json()["messages"][0]["id"] == "FQXHMFC0001M"
    assert api.task(job)["status"] == "Stopped"
    job = api.init("OS")
    url = create(api, job, len(ISO)).headers["location"]
    r = patch(api, url, 0, ISO, **{"Repr-Digest": digest(ISO)})
    assert r.status_code == 200, r.text


def test_a_request_in_another_process_keeps_others_out(api: Api, ctx: Context) -> None:
    """With several worker processes (or nodes on one object store) one request at a
    time holds a lease in the catalog: another process's request is told 423, and a
    restart frees the leases of the requests it cut."""
    from dataclasses import replace

    ctx.settings = replace(ctx.settings, workers=2)
    job = api.init("OS")
    url = create(api, job, len(ISO)).headers["location"]
    uid = url.rpartition("/")[2]
    now = ctx.clock()
    assert ctx.catalog.lease_upload(uid, "other-node/99#x", now, now + 600)
    r = patch(api, url, 0, ISO[:4096])
    assert r.status_code == 423 and r.json()["messages"][0]["id"] == "FQXHMFC9060J"
    assert head(api, url).status_code == 423
    assert ctx.catalog.release_leases("other-node/") == 1
    assert patch(api, url, 0, ISO[:4096]).status_code == 204
    assert ctx.catalog.get_upload(uid).holder is None  # type: ignore[union-attr]
    assert patch(api, url, 4096, ISO[4096:]).status_code == 200


def test_an_upload_whose_job_ended_elsewhere_is_removed_at_its_next_request(
    api: Api, ctx: Context
) -> None:
    from osdepot.domain.jobs import JobStatus

    job = api.init("OS")
    url = create(api, job, len(ISO)).headers["location"]
    assert patch(api, url, 0, ISO[:4096]).status_code == 204
    # cancelled by another node (no registry of this process told)
    ctx.catalog.finish_job(int(job), JobStatus.CANCELLED, ctx.clock(), {"id": "x", "text": "t"})
    r = patch(api, url, 4096, ISO[4096:])
    assert r.status_code == 404 and "Cancelled" in r.json()["messages"][0]["explanation"]
    assert not staging_files(ctx.settings)
    assert ctx.catalog.get_upload(url.rpartition("/")[2]) is None


class _HeldSha:
    """SHA-256 whose updates wait for ``go`` (at most 10 s), or fail when ``fail``."""

    def __init__(self, go: threading.Event, fail: bool, h: Any = None) -> None:
        self._go, self._fail = go, fail
        self._h = h or hashlib.sha256()
        self.name = "sha256"

    def update(self, data: Any) -> None:
        self._go.wait(10)
        if self._fail:
            raise MemoryError("a hash that fails")
        self._h.update(data)

    def copy(self) -> _HeldSha:
        return _HeldSha(self._go, self._fail, self._h.copy())

    def digest(self) -> bytes:
        return bytes(self._h.digest())

    def hexdigest(self) -> str:
        return str(self._h.hexdigest())


@pytest.mark.parametrize("fail", [False, True], ids=["held", "failing"])
def test_a_request_is_answered_before_its_hashes_end(
    api: Api, ctx: Context, monkeypatch: pytest.MonkeyPatch, fail: bool
) -> None:
    """A request that is not the last is answered once its bytes are durable; its
    hashes finish afterwards and the next request waits for them. Should they fail,
    the file is read back at the end: the import still gets the right SHA-256."""
    import osdepot.ingest.receiver as receiver

    go = threading.Event()

    def new(name: str, data: bytes = b"") -> Any:
        return _HeldSha(go, fail) if name == "sha256" else hashlib.new(name, data)

    monkeypatch.setattr(receiver, "hashlib", SimpleNamespace(new=new))
    job = api.init("OS")
    url = create(api, job, len(ISO)).headers["location"]
    half = len(ISO) // 2
    t = time.monotonic()
    r = patch(api, url, 0, ISO[:half])
    assert r.status_code == 204, r.text
    assert time.monotonic() - t < 8  # not held back by the hash (10 s)
    assert int(head(api, url).headers["upload-offset"]) == half
    go.set()
    if fail:  # the hashes failed: the rest is hashed by reading the file back
        monkeypatch.setattr(receiver, "hashlib", hashlib)
    r = patch(api, url, half, ISO[half:])
    assert r.status_code == 200, r.text
    f = ctx.catalog.get_file(r.json()["fileid"])
    assert f is not None and f.sha256 == sha256(ISO)
    assert api.task(job)["status"] == "Complete"
