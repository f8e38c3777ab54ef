"""The whole pipeline on S3 (SeaweedFS): an upload streams into a multipart upload,
the content checks and media recognition read the object by ranged reads before the
commit, downloads and installation trees read it by ranges, and every failure —
a wrong checksum, a refused content, a cancel — leaves no object and no multipart
upload behind; deleting an image deletes its object."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tarfile
import time
from typing import Any

import pytest

from osdepot.errors import StoreUnavailable
from osdepot.services.context import Context
from tests.api.test_resumable import create, patch
from tests.conftest import Api, sha256
from tests.media import medium_bytes
from tests.s3 import SeaweedS3
from tests.samples import VALID


@pytest.fixture
def blobs() -> str:
    return "s3"


def objects(ctx: Context, s3_server: SeaweedS3) -> tuple[list[str], list[Any]]:
    store: Any = ctx.blobs
    client: Any = s3_server.client()
    listed = client.list_objects_v2(Bucket="osdepot", Prefix=store.prefix).get("Contents", [])
    uploads = client.list_multipart_uploads(Bucket="osdepot", Prefix=store.prefix)
    return sorted(o["Key"] for o in listed), uploads.get("Uploads", [])


def test_imports_downloads_and_trees_on_s3(api: Api, ctx: Context, s3_server: SeaweedS3) -> None:
    iso = medium_bytes("rhel", version="9.4")
    job = api.init("OS", fileSize=len(iso))
    r = api.upload(job, "rhel.iso", iso, {"checksumType": "SHA256", "checksumValue": sha256(iso)})
    assert r.status_code == 201 and r.json()["imageId"] == "rhels9.4", r.text
    keys, uploads = objects(ctx, s3_server)
    assert len(keys) == 1 and uploads == []
    (image,) = api.listing()["items"]
    assert image["sha256"] == sha256(iso) and image["profiles"]
    # downloads: whole, a range (through the buffered path: no local file to send)
    got = api.c.get(f"/files/osImages/{image['fileId']}")
    assert got.status_code == 200 and got.content == iso
    part = api.c.get(f"/files/osImages/{image['fileId']}", headers={"Range": "bytes=100-4195"})
    assert part.status_code == 206 and part.content == iso[100:4196]
    # a file of the installation tree, read out of the object
    kernel = api.c.get("/osImages/rhels9.4/tree/images/pxeboot/vmlinuz")
    assert kernel.status_code == 200 and kernel.content == b"kernel"
    # deleting the image deletes its object
    assert api.c.delete("/osImages/rhels9.4").status_code == 200
    assert objects(ctx, s3_server) == ([], [])


def test_failures_on_s3_leave_no_object_and_no_upload(
    api: Api, ctx: Context, s3_server: SeaweedS3
) -> None:
    name, query, content = VALID["SCRIPT"]
    job = api.init("SCRIPT", fileSize=len(content))
    r = api.upload(
        job, name, content, {"checksumType": "SHA256", "checksumValue": "0" * 64}, **query
    )
    assert r.status_code == 409 and r.json()["messages"][0]["id"] == "FQXHMFC0001M"
    job = api.init("UNATTEND")
    r = api.upload(job, "ks.ks", b"\x00\x01 not a kickstart", None, os="rhel")
    assert r.status_code == 400
    assert objects(ctx, s3_server) == ([], [])
    fid = api.import_file("SCRIPT", name, content, **query)
    assert api.c.get(f"/files/osImages/{fid}").content == content
    keys, uploads = objects(ctx, s3_server)
    assert len(keys) == 1 and uploads == []
    digest = hashlib.sha256(content).hexdigest()
    assert api.listing()["installScriptFiles"][0]["sha256"] == digest


def test_fsck_on_s3_finds_and_repairs_what_no_job_owns(
    api: Api,
    ctx: Context,
    s3_server: SeaweedS3,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import json

    from osdepot.cli.main import main

    # The test's own server beats as a live node, and what is younger than the grace is
    # then taken for a live node's work (tests/storage/test_fsck.py); an object store's
    # objects cannot be made older: no grace here.
    monkeypatch.setenv("OSDEPOT_ORPHAN_GRACE", "0")
    name, query, content = VALID["SCRIPT"]
    fid = api.import_file("SCRIPT", name, content, **query)
    # an upload no job owns (a node that died before recording it), an object no
    # catalog row references (a node that died between its end and the commit)
    abandoned = ctx.blobs.create_staging(100)
    abandoned.write(b"x" * 100)
    orphan = ctx.blobs.create_staging(5)
    orphan.write(b"y" * 5)
    orphan.finish()
    assert main(["fsck", "--data-dir", str(ctx.settings.data_dir), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    kinds = {(f["kind"], f["subject"]) for f in report["findings"]}
    assert ("staging", abandoned.name) in kinds and ("orphan", orphan.key) in kinds
    assert main(["fsck", "--data-dir", str(ctx.settings.data_dir), "--repair"]) in (0, 1)
    capsys.readouterr()
    keys, uploads = objects(ctx, s3_server)
    assert uploads == [] and not any(k.endswith(orphan.key) and "/blobs/" in k for k in keys)
    # the referenced object was never touched
    assert api.c.get(f"/files/osImages/{fid}").content == content
    assert main(["fsck", "--data-dir", str(ctx.settings.data_dir)]) == 0


@pytest.fixture
def one_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3 gives up at once on an endpoint that is down (its retries would only make
    the test slow)."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")


def test_an_object_store_that_is_down_is_answered_503_and_used_again_after(
    one_attempt: None, api: Api, ctx: Context, s3_server: SeaweedS3
) -> None:
    name, query, content = VALID["SCRIPT"]
    fid = api.import_file("SCRIPT", name, content, **query)
    r = create(api, api.init("SCRIPT"), len(content), "a.sh", imageType="SCRIPT", os="rhel")
    assert r.status_code == 201, r.text
    upload = r.headers["location"]
    s3_server.halt()
    try:
        r = api.c.get(f"/files/osImages/{fid}")
        assert r.status_code == 503 and r.headers["retry-after"], r.text
        assert r.json()["messages"][0]["id"] == "FQXHMFC9049M"
        # a resumable upload taken up again lists its parts: a 500 (boto's own
        # EndpointConnectionError, from a paginator) on the cluster with SeaweedFS down
        r = patch(api, upload, 0, content)
        assert r.status_code == 503 and r.json()["messages"][0]["id"] == "FQXHMFC9049M", r.text
        # and what lists the store (the orphan sweep, fsck): the same error, not boto's
        with pytest.raises(StoreUnavailable):
            list(ctx.blobs.keys())
        with pytest.raises(StoreUnavailable):
            ctx.blobs.staging_leftovers()
        # and the health check says so (it said "ok")
        r = api.c.get("/healthz")
        assert r.status_code == 503, r.text
        assert r.json()["checks"]["blobStore"] == "failed: StoreUnavailable"
        job = api.init("SCRIPT")
        r = api.upload(job, name, content, None, **query)
        assert r.status_code == 503 and r.json()["messages"][0]["id"] == "FQXHMFC9049M"
        task = api.task(job)
        assert task["status"] == "Stopped" and task["messageID"] == "FQXHMFC9049M"
    finally:
        s3_server.start()
    # back: the stored file reads again (once SeaweedFS's volumes have registered:
    # until then it answers 500, which osdepot passes on as 503) and imports work, no
    # restart of osdepot needed
    deadline = time.monotonic() + 60
    while (r := api.c.get(f"/files/osImages/{fid}")).status_code != 200:
        assert r.status_code == 503 and time.monotonic() < deadline, r.text
        time.sleep(0.5)
    assert r.content == content
    while (r := api.c.get("/healthz")).status_code != 200:  # (its answer lives 2 s)
        assert time.monotonic() < deadline, r.text
        time.sleep(0.2)
    assert r.json()["checks"]["blobStore"] == "ok"
    # the resumable upload goes on where it was, and ends the import
    r = patch(api, upload, 0, content)
    assert r.status_code == 200 and r.json()["fileid"].endswith("_a.sh"), r.text
    assert api.import_file("SCRIPT", "again.sh", content, **query)
    assert objects(ctx, s3_server)[1] == []


def test_a_resumable_upload_on_s3_across_a_restart(
    api: Api, ctx: Context, s3_server: SeaweedS3
) -> None:
    """On S3 a resumable upload's bytes are parts and a tail object; a new process
    (its hashes unknown) lists the parts, reads the tail and goes on; the whole file's
    SHA-256 is computed by reading the object back; nothing is left behind."""
    from osdepot.services.recovery import recover
    from osdepot.storage.s3 import MIN_PART

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        payload = os.urandom(MIN_PART + (3 << 20))
        info = tarfile.TarInfo("p/data.bin")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    data = buf.getvalue()
    job = api.init("SOFTWARE")
    tus = {"Tus-Resumable": "1.0.0"}
    r = api.c.post(
        f"/files/osImages/uploads?jobId={job}&imageType=SOFTWARE&os=rhel",
        headers={
            **tus,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": "filename eC50YXIuZ3o=",  # x.tar.gz
        },
    )
    assert r.status_code == 201, r.text
    url = r.headers["location"]
    first = MIN_PART + 4321  # a whole part and a tail
    h = {**tus, "Content-Type": "application/offset+octet-stream"}
    r = api.c.patch(url, content=data[:first], headers={**h, "Upload-Offset": "0"})
    assert r.status_code == 204 and r.headers["upload-offset"] == str(first)
    keys, uploads = objects(ctx, s3_server)
    assert len(uploads) == 1 and any(k.endswith(".tail") for k in keys)
    ctx.resumable.clear()  # a new process: it knows nothing of the upload
    assert recover(ctx).jobs_failed == 0
    r = api.c.patch(url, content=data[first:], headers={**h, "Upload-Offset": str(first)})
    assert r.status_code == 200, r.text
    f = ctx.catalog.get_file(r.json()["fileid"])
    assert f is not None and f.sha256 == hashlib.sha256(data).hexdigest()
    keys, uploads = objects(ctx, s3_server)
    assert uploads == [] and not any(k.endswith(".tail") for k in keys)
    assert len(keys) == 1  # the stored file


def test_a_draft_upload_on_s3_whose_length_comes_last(
    api: Api, ctx: Context, s3_server: SeaweedS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An IETF-draft upload made without a length: its parts keep the size they were
    made with when the last request tells the length (parts sized by the length, as
    for a file of more than 70 GiB, would not match the parts already sent)."""
    from osdepot.storage import s3
    from osdepot.storage.s3 import MIN_PART

    monkeypatch.setattr(s3, "part_size", lambda hint: MIN_PART * (2 if hint else 1))

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        payload = os.urandom(MIN_PART * 2 + 12345)
        info = tarfile.TarInfo("p/data.bin")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    data = buf.getvalue()
    job = api.init("SOFTWARE")
    ietf = {"Upload-Draft-Interop-Version": "8"}
    r = api.c.post(
        f"/files/osImages/uploads?jobId={job}&imageType=SOFTWARE&os=rhel",
        headers={
            **ietf,
            "Upload-Complete": "?0",
            "Content-Disposition": "inline; filename=a.tar.gz",
        },
    )
    assert r.status_code == 201, r.text
    url = r.headers["location"]
    h = {**ietf, "Content-Type": "application/partial-upload"}
    first = MIN_PART + 777
    r = api.c.patch(
        url, content=data[:first], headers={**h, "Upload-Offset": "0", "Upload-Complete": "?0"}
    )
    assert r.status_code == 204, r.text
    ctx.resumable.clear()  # and taken up by a process that knows nothing of it
    r = api.c.patch(
        url,
        content=data[first:],
        headers={**h, "Upload-Offset": str(first), "Upload-Complete": "?1"},
    )
    assert r.status_code == 200, r.text
    f = ctx.catalog.get_file(r.json()["fileid"])
    assert f is not None and f.sha256 == hashlib.sha256(data).hexdigest()


def test_an_object_deleted_after_it_was_opened_is_a_404_never_a_500(
    api: Api, ctx: Context, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An object, unlike an open local file, is gone for the reader too once deleted:
    a download, a tree file and a first tree index whose image was deleted between the
    opening of its object and the first read answered 500 "NoSuchKey" (found by a
    mixed load on two nodes). Now 404 "deleted just now"; a download cut mid-way by a
    deletion ends its connection with one line in the log."""
    from osdepot.services.downloads import Downloads

    def delete(ids: list[str]) -> None:
        for key in ctx.catalog.delete_objects(ids):
            ctx.blobs.delete(key)

    def expect_gone(r: Any) -> None:
        assert r.status_code == 404, r.text
        assert "deleted just now" in r.json()["messages"][0]["explanation"], r.text

    opened_file, tree = Downloads.open_file, Downloads.tree

    async def opened_then_gone(self: Downloads, f: Any) -> Any:
        opened = await opened_file(self, f)
        delete([f.id])
        return opened

    async def tree_then_gone(self: Downloads, f: Any, path: str) -> Any:
        found = await tree(self, f, path)
        delete([f.id])
        return found

    fid = api.import_file("SCRIPT", "a.sh", b"#!/bin/sh\n", os="rhel")
    monkeypatch.setattr(Downloads, "open_file", opened_then_gone)
    expect_gone(api.c.get(f"/files/osImages/{fid}"))
    monkeypatch.setattr(Downloads, "open_file", opened_file)
    iso = medium_bytes("rhel", version="9.4")
    api.import_file("OS", "rhel.iso", iso, os="rhel")
    monkeypatch.setattr(Downloads, "tree", tree_then_gone)
    expect_gone(api.c.get("/osImages/rhels9.4/tree/.treeinfo"))
    monkeypatch.setattr(Downloads, "tree", tree)
    # the first tree index, the object deleted once it is opened
    api.import_file("OS", "rhel.iso", iso, os="rhel")
    with ctx.catalog.engine.begin() as c:  # type: ignore[attr-defined]
        c.exec_driver_sql("DELETE FROM tree_entries")
    reader = ctx.blobs.reader

    def reader_then_gone(key: str) -> Any:
        opened = reader(key)
        delete(["rhels9.4"])
        return opened

    monkeypatch.setattr(ctx.blobs, "reader", reader_then_gone)
    expect_gone(api.c.get("/osImages/rhels9.4/tree/"))
    monkeypatch.setattr(ctx.blobs, "reader", reader)
    # a download of several pieces, the object deleted after the first
    from osdepot.errors import DownloadCut
    from osdepot.storage.s3 import S3Reader

    big = b"#!/bin/sh\n" + b"#" * (3 << 20) + b"\n"
    fid = api.import_file("SCRIPT", "big.sh", big, os="rhel")
    read_at, calls = S3Reader.read_at, []

    def read_then_gone(self: S3Reader, offset: int, n: int) -> bytes:
        calls.append(offset)
        if len(calls) == 2:
            delete([fid])
        return read_at(self, offset, n)

    monkeypatch.setattr(S3Reader, "read_at", read_then_gone)
    caplog.set_level("INFO")
    status, got = 0, b""
    with contextlib.suppress(DownloadCut), api.c.stream("GET", f"/files/osImages/{fid}") as r:
        status = r.status_code
        for chunk in r.iter_bytes():
            got += chunk
    assert status == 200 and len(got) < len(big), (status, len(got))  # cut, never whole
    assert len(calls) == 2
    assert not [x for x in caplog.records if x.levelname == "ERROR"], caplog.text


def test_a_resumable_upload_ended_by_another_node_mid_request_says_so(
    api: Api, ctx: Context, s3_server: SeaweedS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `DELETE` of a resumable upload answered by another node while this node's
    `PATCH` of it runs: that node cancels the job and aborts the multipart upload, and
    this node's next part or its completion is refused NoSuchUpload — the `PATCH` was
    a 500 "internal error" with a traceback in the log. It is told as the cancel it
    is now (409 `FQXHMFC9014J` naming who), and nothing is left behind."""
    from osdepot.domain.jobs import JobStatus
    from osdepot.storage.s3 import S3Staging

    data = b"#!/bin/sh\n" + os.urandom(300_000)
    job = api.init("SCRIPT")
    tus = {"Tus-Resumable": "1.0.0"}
    r = api.c.post(
        f"/files/osImages/uploads?jobId={job}&imageType=SCRIPT&os=rhel",
        headers={**tus, "Upload-Length": str(len(data)), "Upload-Metadata": "filename eC5zaA=="},
    )
    assert r.status_code == 201, r.text
    url = r.headers["location"]
    (up,) = ctx.catalog.list_uploads()
    upload_part = S3Staging._upload_part

    def ended_elsewhere(self: S3Staging, number: int, body: bytes) -> Any:
        # the other node's termination, just now: the job Cancelled by bob, its upload
        # forgotten, its multipart upload aborted
        msg: dict[str, object] = {"id": "FQXHMFC9014J", "text": f"Job {job} was cancelled."}
        ctx.catalog.finish_job(int(job), JobStatus.CANCELLED, time.time(), msg,
                               only_if=(JobStatus.RUNNING,), cancelled_by="bob")  # fmt: skip
        ctx.catalog.delete_upload(up.id)
        ctx.blobs.remove_staging(up.staging)
        return upload_part(self, number, body)

    monkeypatch.setattr(S3Staging, "_upload_part", ended_elsewhere)
    h = {**tus, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}
    r = api.c.patch(url, content=data, headers=h)
    assert r.status_code == 409, r.text  # before: 500 (NoSuchUpload)
    msg = r.json()["messages"][0]
    assert msg["id"] == "FQXHMFC9014J" and "by bob" in msg["explanation"], msg
    assert api.task(job)["status"] == "Cancelled"
    assert objects(ctx, s3_server) == ([], [])
