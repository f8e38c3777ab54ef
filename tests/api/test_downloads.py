"""Getting files out: downloads with ranges and conditions, signed links (expiry,
revocation, forgery, nothing else granted), and installation trees read straight out
of stored ISOs (ISO 9660 and UDF)."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import tarfile
import time
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from osdepot.services.context import Context
from tests.conftest import Api
from tests.media import medium_bytes, rhel_like_files, windows_files


def _software_archive() -> bytes:
    """A valid .tar.gz of several read pieces and an odd tail (random: no compression)."""
    payload = os.urandom(3 * 1024 * 1024 + 123)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        info = tarfile.TarInfo("agent/payload.bin")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


BLOB = _software_archive()


@pytest.fixture
def software(api: Api) -> str:
    return api.import_file("SOFTWARE", "agent ü.tar.gz", BLOB, os="rhel")


def test_a_stored_file_comes_back_whole_with_its_validators(api: Api, software: str) -> None:
    r = api.c.get(f"/files/osImages/{software}")
    assert r.status_code == 200 and r.content == BLOB
    h = r.headers
    digest = hashlib.sha256(BLOB).hexdigest()
    assert h["content-length"] == str(len(BLOB)) and h["accept-ranges"] == "bytes"
    assert h["etag"] == f'"{digest}"'
    assert h["repr-digest"] == f"sha-256=:{base64.b64encode(bytes.fromhex(digest)).decode()}:"
    assert h["content-disposition"].startswith('attachment; filename="agent ?.tar.gz"')
    assert "filename*=UTF-8''agent%20%C3%BC.tar.gz" in h["content-disposition"]
    assert re.match(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT", h["last-modified"])
    head = api.c.head(f"/files/osImages/{software}")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(BLOB))
    assert head.headers["etag"] == h["etag"]
    # The client's copy is current: 304, no body.
    r = api.c.get(f"/files/osImages/{software}", headers={"If-None-Match": h["etag"]})
    assert r.status_code == 304 and r.content == b""


def test_ranges(api: Api, software: str) -> None:
    url = f"/files/osImages/{software}"
    n = len(BLOB)
    r = api.c.get(url, headers={"Range": "bytes=100-199"})
    assert r.status_code == 206 and r.content == BLOB[100:200]
    assert r.headers["content-range"] == f"bytes 100-199/{n}"
    r = api.c.get(url, headers={"Range": "bytes=-10"})
    assert r.content == BLOB[-10:] and r.headers["content-range"] == f"bytes {n - 10}-{n - 1}/{n}"
    r = api.c.get(url, headers={"Range": f"bytes={n - 5}-"})
    assert r.content == BLOB[-5:]
    r = api.c.get(url, headers={"Range": f"bytes=0-{n * 2}"})  # clipped to the file
    assert r.status_code == 206 and r.content == BLOB
    # Several pieces: multipart/byteranges, overlapping ones merged.
    r = api.c.get(url, headers={"Range": "bytes=0-9, 5-19, 1048576-1048585"})
    assert r.status_code == 206
    ctype = r.headers["content-type"]
    assert ctype.startswith("multipart/byteranges; boundary=")
    boundary = ctype.split("boundary=")[1].encode()
    parts = r.content.split(b"--" + boundary)
    bodies = [p.split(b"\r\n\r\n", 1)[1][:-2] for p in parts[1:-1]]
    assert bodies == [BLOB[0:20], BLOB[1048576:1048586]]
    assert b"Content-Range: bytes 0-19/" in parts[1]
    assert int(r.headers["content-length"]) == len(r.content)
    # If-Range: the range applies only while the file is the one the client has.
    etag = r.headers["etag"]
    r = api.c.get(url, headers={"Range": "bytes=0-9", "If-Range": etag})
    assert r.status_code == 206 and r.content == BLOB[:10]
    r = api.c.get(url, headers={"Range": "bytes=0-9", "If-Range": '"another"'})
    assert r.status_code == 200 and r.content == BLOB


@pytest.mark.parametrize(
    ("header", "words"),
    [
        ("bytes=999999999-", "no byte of the Range"),
        ("bytes=9-3", "ends before it starts"),
        ("lines=1-2", "byte ranges only"),
        ("bytes=a-b", "is not a byte range"),
        ("bytes=" + ",".join(f"{i * 10}-{i * 10 + 1}" for i in range(40)), "at most 32"),
    ],
)
def test_bad_ranges_are_refused_with_416(api: Api, software: str, header: str, words: str) -> None:
    r = api.c.get(f"/files/osImages/{software}", headers={"Range": header})
    assert r.status_code == 416, r.text
    m = r.json()["messages"][0]
    assert m["id"] == "FQXHMFC9040J" and words in m["explanation"]
    assert r.headers["content-range"] == f"*/{len(BLOB)}".join(["bytes ", ""])


def test_unknown_files_and_privileges(api: Api, make_api: Any, software: str) -> None:
    r = api.c.get("/files/osImages/nosuchfile")
    assert r.status_code == 404 and r.json()["messages"][0]["id"] == "FQXHMFC9016J"
    # Every role reads the repository, so every role downloads; links need the
    # create-import-export privilege.
    operator = make_api("lxc-operator")
    assert operator.c.get(f"/files/osImages/{software}").content == BLOB
    r = operator.c.post(f"/files/osImages/{software}/links", json={})
    assert r.status_code == 403
    anonymous = TestClient(api.c.app, base_url="https://testserver")
    assert anonymous.get(f"/files/osImages/{software}").status_code == 401


def _link(api: Api, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    r = api.c.post(path, json=body or {})
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_signed_links_work_without_login_and_grant_nothing_else(
    api: Api, software: str, ctx: Context
) -> None:
    link = _link(api, f"/files/osImages/{software}/links", {"expiresIn": 3600})
    assert link["url"].startswith("https://testserver/links/") and not link["tree"]
    anonymous = TestClient(api.c.app, base_url="https://testserver")
    path = link["url"].removeprefix("https://testserver")
    # iPXE's HTTP block device: HEAD, then 512-byte-aligned ranges.
    head = anonymous.head(path)
    assert head.status_code == 200 and head.headers["content-length"] == str(len(BLOB))
    for sector in (0, 7, 2048, len(BLOB) // 512 - 1):
        r = anonymous.get(path, headers={"Range": f"bytes={sector * 512}-{sector * 512 + 511}"})
        assert r.status_code == 206 and r.content == BLOB[sector * 512 : sector * 512 + 512]
    assert anonymous.get(path).content == BLOB
    # The token opens this file and nothing else.
    token = path.removeprefix("/links/")
    assert anonymous.get("/osImages", headers={"Cookie": f"_sessionId={token}"}).status_code == 401
    assert anonymous.post(path).status_code == 405
    assert anonymous.get(path + "/.treeinfo").status_code == 404  # not a tree link
    # Forged, altered or expired tokens: one 404, never which part was wrong.
    link_id, expires, sig = token.split(".")
    bad = [
        f"{link_id}.{expires}.{sig[:-1]}{'B' if sig[-1] == 'A' else 'A'}",
        f"{link_id}.{int(expires) + 1}.{sig}",
        f"{int(link_id) + 1}.{expires}.{sig}",
        "1.2.3",
        "².².x",
        "1.٣.x",
        "garbage",
        "9" * 40 + ".1.x",
    ]
    answers = {anonymous.get(f"/links/{t}").json()["messages"][0]["explanation"] for t in bad}
    assert len(answers) == 1 and "does not exist, has expired or was revoked" in answers.pop()
    # Listed per file; revoked by DELETE; dead at once.
    listed = api.c.get(f"/files/osImages/{software}/links").json()["links"]
    assert [k["id"] for k in listed] == [link["id"]] and listed[0]["uses"] >= 1
    assert api.c.delete(f"/files/osImages/{software}/links/{link['id']}").status_code == 200
    assert anonymous.get(path).status_code == 404
    assert api.c.delete(f"/files/osImages/{software}/links/{link['id']}").status_code == 404
    # Expiry: settable, capped.
    r = api.c.post(f"/files/osImages/{software}/links", json={"expiresIn": 10**9})
    assert r.status_code == 400 and "OSDEPOT_LINK_MAX_SECONDS" in r.text
    short = _link(api, f"/files/osImages/{software}/links", {"expiresIn": 1})
    ctx.clock = lambda: time.time() + 5
    try:
        spath = short["url"].removeprefix("https://testserver")
        assert anonymous.get(spath).status_code == 404
    finally:
        ctx.clock = time.time
    # Links die with their file.
    live = _link(api, f"/files/osImages/{software}/links")
    assert api.c.delete(f"/osImages/{software}").status_code == 200
    assert anonymous.get(live["url"].removeprefix("https://testserver")).status_code == 404


def test_the_installation_tree_is_served_out_of_the_iso(api: Api) -> None:
    data = medium_bytes("rhel")
    job = api.init("OS", fileSize=len(data))
    r = api.upload(job, "rhel.iso", data, imageType="OS", os="rhel")
    assert r.status_code == 201, r.text
    image = r.json()["imageId"]
    files = rhel_like_files()
    # Authenticated, by image id.
    r = api.c.get(f"/osImages/{image}/tree/.treeinfo")
    assert r.status_code == 200 and r.content == files[".treeinfo"]
    r = api.c.get(f"/osImages/{image}/tree/images/pxeboot/vmlinuz", headers={"Range": "bytes=1-3"})
    assert r.status_code == 206 and r.content == files["images/pxeboot/vmlinuz"][1:4]
    listing = api.c.get(f"/osImages/{image}/tree/images/")
    assert (
        listing.status_code == 200 and "pxeboot/" in listing.text and "install.img" in listing.text
    )
    assert api.c.get(f"/osImages/{image}/tree/images", follow_redirects=False).status_code == 301
    for escape in ("../../etc/passwd", "images/../../x", "%2e%2e/x", "nosuch"):
        assert api.c.get(f"/osImages/{image}/tree/{escape}").status_code == 404, escape
    # Through a tree link, without login: the link is the root of the tree.
    link = _link(api, f"/osImages/{image}/links")
    assert link["tree"] and link["url"].endswith("/")
    anonymous = TestClient(api.c.app, base_url="https://testserver")
    root = link["url"].removeprefix("https://testserver")
    assert anonymous.get(root + ".treeinfo").content == files[".treeinfo"]
    repomd = anonymous.get(root + "BaseOS/repodata/repomd.xml")
    assert repomd.status_code == 200 and repomd.content == files["BaseOS/repodata/repomd.xml"]
    assert "BaseOS/" in anonymous.get(root).text
    assert anonymous.get(root.rstrip("/")).status_code == 404  # a tree link is not a file link


def test_folders_named_in_any_script(api: Api, tmp_path: Any) -> None:
    """A tree folder whose name is not ISO-8859-1, asked for without its slash: the
    redirect's Location is percent-encoded (it was a 500: the decoded path went into
    the header as it was)."""
    from tests.media import make_iso

    files = {**rhel_like_files("rhel", "9.4", "x86_64"), "文档/说明 1.txt": b"read me\n"}
    data = make_iso(tmp_path / "m.iso", files, volume_id="RHEL-9-4-0-BaseOS-x86_64").read_bytes()
    job = api.init("OS", fileSize=len(data))
    r = api.upload(job, "rhel.iso", data, imageType="OS", os="rhel")
    assert r.status_code == 201, r.text
    image = r.json()["imageId"]
    r = api.c.get(f"/osImages/{image}/tree/{quote('文档')}", follow_redirects=False)
    assert r.status_code == 301, r.text
    assert r.headers["location"] == f"/osImages/{image}/tree/{quote('文档')}/"
    listing = api.c.get(r.headers["location"])
    assert listing.status_code == 200 and "说明 1.txt" in listing.text
    assert api.c.get(f"/osImages/{image}/tree/{quote('文档/说明 1.txt')}").content == b"read me\n"


def test_a_tree_listing_shows_a_bounded_number_of_entries(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ISO folder may hold some 250,000 entries (20 MB of HTML for each request):
    a listing shows the first MAX_LISTED (10,000; 2 here) and says how many more."""
    import osdepot.web.downloads as web_downloads

    data = medium_bytes("rhel")
    job = api.init("OS", fileSize=len(data))
    image = api.upload(job, "rhel.iso", data, imageType="OS", os="rhel").json()["imageId"]
    whole = api.c.get(f"/osImages/{image}/tree/").text
    shown = whole.count("<li>")
    assert shown > 3 and "more, not listed" not in whole
    monkeypatch.setattr(web_downloads, "MAX_LISTED", 2)
    cut = api.c.get(f"/osImages/{image}/tree/").text
    assert cut.count('<li><a href="') == 2
    assert f"… and {shown - 2} more, not listed" in cut


def test_udf_files_of_windows_media(api: Api) -> None:
    data = medium_bytes("windows")
    job = api.init("OS", fileSize=len(data))
    r = api.upload(job, "win.iso", data, imageType="OS", os="windows")
    assert r.status_code == 201, r.text
    image = r.json()["imageId"]
    wim = windows_files()["sources/install.wim"]
    r = api.c.get(f"/osImages/{image}/tree/sources/install.wim")
    assert r.status_code == 200 and r.content == wim
    r = api.c.get(f"/osImages/{image}/tree/sources/install.wim", headers={"Range": "bytes=0-4"})
    assert r.content == wim[:5] == b"MSWIM"


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(token=st.text(min_size=1, max_size=80), path=st.text(max_size=80))
def test_any_token_and_tree_path_gets_a_message_never_a_500(
    app_client: TestClient, token: str, path: str
) -> None:
    quoted = quote(token, safe="")
    for url in (f"/links/{quoted}", f"/links/{quoted}/{quote(path)}"):
        r = app_client.get(url)
        assert r.status_code in (404, 405), (url, r.status_code, r.text)
        assert r.json()["result"] == "failed"


def test_a_file_keeps_a_bounded_number_of_links(
    api: Api, software: str, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    from osdepot.services import links

    monkeypatch.setattr(links, "MAX_LINKS", 3)
    url = f"/files/osImages/{software}/links"
    made = [_link(api, url, {"expiresIn": 3600}) for _ in range(2)]
    short = _link(api, url, {"expiresIn": 60})  # expires when the clock is moved on below
    r = api.c.post(url, json={})
    assert r.status_code == 409, r.text  # three links, all still valid
    assert r.json()["messages"][0]["id"] == "FQXHMFC9064J"
    # A link that ended makes room: the one revoked, then the one expired.
    assert api.c.delete(f"{url}/{made[0]['id']}").status_code == 200
    newer = _link(api, url, {"expiresIn": 3600})
    listed = [x["id"] for x in api.c.get(url).json()["links"]]
    assert listed == [made[1]["id"], short["id"], newer["id"]]
    now = time.time()
    ctx.clock = lambda: now + 120
    try:
        last = _link(api, url, {"expiresIn": 3600})
    finally:
        ctx.clock = time.time
    listed = [x["id"] for x in api.c.get(url).json()["links"]]
    assert listed == [made[1]["id"], newer["id"], last["id"]]
    assert api.c.post(url, json={}).status_code == 409


def test_a_file_deleted_while_a_request_reads_it_is_a_404(
    api: Api, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deletion between a request's catalog read and what it does next: the download,
    the tree, a new link and the tree's first index each answered 500
    (FileNotFoundError from the store, IntegrityError from the catalog)."""
    from osdepot.services.downloads import Downloads

    def delete(ids: list[str]) -> None:
        for key in ctx.catalog.delete_objects(ids):
            ctx.blobs.delete(key)

    found_file, found_image = Downloads.stored_file, Downloads.image_file

    async def file_then_gone(self: Downloads, file_id: str) -> Any:
        f = await found_file(self, file_id)
        delete([file_id])
        return f

    async def image_then_gone(self: Downloads, image_id: str) -> Any:
        f = await found_image(self, image_id)
        delete([image_id])
        return f

    def expect_gone(r: Any) -> None:
        assert r.status_code == 404, r.text
        assert "deleted just now" in r.json()["messages"][0]["explanation"], r.text

    monkeypatch.setattr(Downloads, "stored_file", file_then_gone)
    fid = api.import_file("SCRIPT", "a.sh", b"#!/bin/sh\n", os="rhel")
    expect_gone(api.c.get(f"/files/osImages/{fid}"))
    fid = api.import_file("SCRIPT", "a.sh", b"#!/bin/sh\n", os="rhel")
    expect_gone(api.c.post(f"/files/osImages/{fid}/links", json={}))
    monkeypatch.setattr(Downloads, "stored_file", found_file)  # image_file reads through it
    monkeypatch.setattr(Downloads, "image_file", image_then_gone)
    iso = medium_bytes("rhel", version="9.4")
    api.import_file("OS", "rhel.iso", iso, os="rhel")
    expect_gone(api.c.get("/osImages/rhels9.4/tree/.treeinfo"))
    # a medium whose index is made on first use, the medium deleted while it is made
    monkeypatch.setattr(Downloads, "image_file", found_image)
    api.import_file("OS", "rhel.iso", iso, os="rhel")
    (image,) = api.listing()["items"]
    with ctx.catalog.engine.begin() as c:  # type: ignore[attr-defined]
        c.exec_driver_sql("DELETE FROM tree_entries")
    add_tree = ctx.catalog.add_tree

    def gone_then_add(file_id: str, entries: Any) -> None:
        delete([image["id"]])
        add_tree(file_id, entries)

    monkeypatch.setattr(ctx.catalog, "add_tree", gone_then_add)
    expect_gone(api.c.get(f"/osImages/{image['id']}/tree/"))
    assert api.listing()["items"] == []


def test_a_medium_deleted_before_its_tree_is_kept_is_no_error(
    api: Api, ctx: Context, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The import has committed and answers 201; its tree index comes after, when a
    deletion may have been quicker: a line of information, not an error's traceback."""
    add_tree = ctx.catalog.add_tree

    def gone_then_add(file_id: str, entries: Any) -> None:
        for key in ctx.catalog.delete_objects([file_id]):
            ctx.blobs.delete(key)
        add_tree(file_id, entries)

    monkeypatch.setattr(ctx.catalog, "add_tree", gone_then_add)
    caplog.set_level("INFO")
    api.import_file("OS", "rhel.iso", medium_bytes("rhel", version="9.4"), os="rhel")
    assert api.listing()["items"] == []
    assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text
    assert "was deleted before its tree was indexed" in caplog.text
