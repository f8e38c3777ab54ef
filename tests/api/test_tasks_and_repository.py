from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import replace
from typing import Any

import pytest
from starlette.testclient import TestClient

from osdepot.domain.images import ImageType
from osdepot.domain.jobs import JobStatus
from osdepot.errors import StoreUnavailable
from osdepot.services.context import Context
from osdepot.services.recovery import recover
from osdepot.web.app import create_app
from tests.api.test_resumable import create
from tests.conftest import ADMIN, ADMIN_PW, Api, stored_blobs
from tests.media import medium_bytes


def test_tasks_are_a_bare_array(api: Api) -> None:
    a, b = api.init("OS"), api.init("SCRIPT")
    r = api.c.get("/tasks")
    assert r.status_code == 200 and isinstance(r.json(), list)
    assert [t["jobUID"] for t in r.json()] == [a, b]
    r = api.c.get(f"/tasks/{a},{b}?compact=true")
    assert [t["id"] for t in r.json()] == [a, b] and "children" not in r.json()[0]
    t = api.task(a)
    for key in (
        "jobUID",
        "id",
        "uuid",
        "status",
        "percentage",
        "complete",
        "messages",
        "createdBy",
        "startTime",
        "endTime",
        "isCancelable",
        "children",
    ):
        assert key in t
    assert api.c.get("/tasks/424242").status_code == 404
    assert api.c.get("/tasks/x").status_code == 404


def test_cancel_and_delete(api: Api, make_api) -> None:  # type: ignore[no-untyped-def]
    job = api.init("SCRIPT")
    other = make_api("lxc-os-admin")
    assert other.c.put("/tasks", json={"action": "cancel", "list": [job]}).status_code == 403
    r = api.c.request("DELETE", f"/tasks/{job}", content=b"{}")
    assert r.status_code == 409 and r.json()["messages"][0]["id"] == "FQXHMJM9002J"
    r = api.c.put("/tasks", json={"action": "cancel", "list": [job]})
    assert r.status_code == 200
    t = api.task(job)
    assert (t["status"], t["complete"], t["cancelledBy"]) == ("Cancelled", True, "admin")
    assert api.upload(job, "a.sh", b"x", os="rhel").status_code == 409
    assert api.c.put("/tasks", json={"action": "delete", "list": [job]}).status_code == 400
    assert api.c.put("/tasks", json={"action": "cancel", "list": []}).status_code == 412
    r = api.c.request("DELETE", f"/tasks/{job}", content=b"{}")
    assert r.status_code == 200 and r.json()["result"] == "success"
    assert api.c.get(f"/tasks/{job}").status_code == 404


def test_jobs_removed_meanwhile_make_the_deletion_remove_nothing(
    api: Api, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DELETE /tasks/a,b checked the jobs, then removed what was left: with b removed
    by another request in between, a went and the answer was 200. All or nothing now."""
    from osdepot.services.jobs import Jobs

    a, b = api.init("SCRIPT"), api.init("SCRIPT")
    assert api.c.put("/tasks", json={"action": "cancel", "list": [a, b]}).status_code == 200
    seen = asyncio.run(Jobs(ctx).find([int(a), int(b)]))
    assert api.c.request("DELETE", f"/tasks/{b}", content=b"{}").status_code == 200
    real, calls = Jobs.find, []

    async def stale(self: Jobs, ids: list[int] | None) -> list[Any]:
        """The first look (the check) as it was before b went; then the catalog."""
        calls.append(ids)
        return seen if len(calls) == 1 else await real(self, ids)

    monkeypatch.setattr(Jobs, "find", stale)
    r = api.c.request("DELETE", f"/tasks/{a},{b}", content=b"{}")
    assert r.status_code == 404, r.text
    assert r.json()["messages"][0]["id"] == "FQXHMJM9001J" and b in r.text
    assert api.task(a)["status"] == "Cancelled"  # nothing removed


def test_ruby_client_cancel(api: Api) -> None:
    job = api.init("OS")
    assert api.c.put(f"/jobs/{job}", json={"cancelRequest": "true"}).status_code == 200
    assert api.task(job)["status"] == "Cancelled"
    assert api.c.put(f"/tasks/{job}", json={"jobUID": job, "percentage": 50}).status_code == 400


def test_profiles_filter_and_delete(api: Api, ctx: Context) -> None:
    api.import_file("OS", "a.iso", medium_bytes("sles"), imageName="SLES", os="sles")
    api.import_file("OS", "b.iso", medium_bytes("esxi"), imageName="esxi", os="vmware")
    keep = api.import_file("SCRIPT", "x.sh", b"echo", os="sles")
    r = api.c.get("/osImages?imageType=OSPROFILE")
    assert {i["id"] for i in r.json()["items"]} == {"sles15sp5", "esxi8.0u2"}
    pid = "sles15sp5|sles15sp5-x86_64-install-Minimal"
    r = api.c.get("/osImages?imageType=OSPROFILE&id=" + pid.replace("|", "%7C"))
    (item,) = r.json()["items"]
    assert [p["id"] for p in item["profiles"]] == [pid]
    # Unknown id: 404, nothing deleted.
    r = api.c.request("DELETE", f"/osImages/esxi8.0u2,{keep},ghost", content=b"{}")
    assert r.status_code == 404 and len(api.listing()["items"]) == 2
    # An image together with its own profile: 400, nothing deleted.
    r = api.c.request("DELETE", "/osImages/sles15sp5," + pid.replace("|", "%7C"))
    assert r.status_code == 400 and len(api.listing()["items"]) == 2
    r = api.c.request("DELETE", "/osImages/" + pid.replace("|", "%7C"), content=b"{}")
    assert r.status_code == 200 and r.json() == {"result": "success", "messages": []}
    (sles,) = [i for i in api.listing()["items"] if i["id"] == "sles15sp5"]
    assert pid not in [p["id"] for p in sles["profiles"]] and len(sles["profiles"]) == 2
    r = api.c.request("DELETE", f"/osImages/esxi8.0u2,sles15sp5,{keep}", content=b"{}")
    assert r.status_code == 200
    listing = api.listing()
    assert listing["items"] == [] and listing["installScriptFiles"] == []
    assert stored_blobs(ctx.settings) == []
    assert api.c.request("DELETE", "/osImages/", content=b"{}").status_code == 412


def test_export_and_customisation_answer_clearly(api: Api) -> None:
    api.import_file("OS", "a.iso", medium_bytes("rhel"), os="rhel")
    r = api.c.get("/osImages/rhels9.4%7Crhels9.4-x86_64-install-Basic")
    assert r.status_code == 400 and "predefined" in r.json()["messages"][0]["explanation"]
    assert api.c.get("/osImages/nothing").status_code == 404
    assert (
        api.c.post(
            "/osImages/rhels9.4%7Crhels9.4-x86_64-install-Basic", json={"profile": {}}
        ).status_code
        == 400
    )


@pytest.mark.local_store
def test_recovery_after_a_crash(ctx: Context) -> None:
    cat, blobs = ctx.catalog, ctx.blobs
    job = cat.create_job(ImageType.OS, "admin", 1.0, 100, "")
    assert cat.claim_job(job.id, JobStatus.PENDING, 0, 1.0, 100, "a.iso")
    st = blobs.create_staging(100)
    st.write(b"partial")
    orphan = blobs.create_staging()
    orphan.write(b"renamed but never recorded")
    orphan.finish()
    blobs.commit(orphan)
    report = recover(ctx)
    assert (report.staging_removed, report.jobs_failed, report.orphan_blobs_removed) == (1, 1, 1)
    got = cat.get_job(job.id)
    assert got is not None and got.status is JobStatus.STOPPED
    assert got.message is not None and got.message["id"] == "FQXHMFC9015M"
    assert list(blobs.keys()) == [] and recover(ctx).jobs_failed == 0
    assert json.dumps(got.message)


def test_recovery_keeps_what_another_node_may_be_committing(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Start-up recovery removes the blobs the catalog does not name. On a store the
    nodes share, another node's import has its object in the store before its catalog
    row (an object store's upload is complete before the content checks): a node
    starting meanwhile removed that object (the catalog read once, before the store
    was listed, and no regard for the jobs running), and the file was recorded
    without its bytes."""
    blobs, cat = ctx.blobs, ctx.catalog

    def put() -> tuple[str, str]:
        st = blobs.create_staging()
        st.write(b"written by another node, its catalog row on the way")
        st.finish()
        name = st.name
        return blobs.commit(st), name

    # another node's Running job wrote it: its work, left alone
    key, staging = put()
    assert staging.startswith(key)  # KEY.part, or KEY/UPLOAD_ID on an object store
    job = cat.create_job(ImageType.SOFTWARE, "admin", 1.0, None, "")
    assert cat.claim_job(job.id, JobStatus.PENDING, 0, 1.0, None, "x.tar.gz", "other-node/1")
    cat.set_job_staging(job.id, staging)
    assert recover(ctx).orphan_blobs_removed == 0 and key in set(blobs.keys())
    # the job ends (its row was not made): the object is an orphan now
    cat.finish_job(job.id, JobStatus.STOPPED, 2.0, {})
    assert recover(ctx).orphan_blobs_removed == 1 and key not in set(blobs.keys())
    # the row lands while the store is listed: the catalog read again names it
    key, _staging = put()
    reads = iter([set(), {key}])
    monkeypatch.setattr(cat, "blob_keys", lambda: next(reads))
    assert recover(ctx).orphan_blobs_removed == 0 and key in set(blobs.keys())


def test_recovery_keeps_a_blob_committed_moments_ago_while_another_node_is_alive(
    ctx: Context,
) -> None:
    """A profile archive's files are committed one by one as it is unpacked, before
    the archive's row, and no job names them (nor a customised file's new text, between
    its commit and its row): a node starting meanwhile, on the store the nodes share,
    removed them, and the archive was recorded with files whose bytes were gone. While
    another node beats, start-up recovery leaves blobs younger than the grace."""
    blobs, cat = ctx.blobs, ctx.catalog
    st = blobs.create_staging()
    st.write(b"a file of another node's profile archive, its row on the way")
    st.finish()
    key = blobs.commit(st)
    cat.heartbeat("other-node/7", "127.0.0.1:1", ctx.clock())
    assert recover(ctx).orphan_blobs_removed == 0 and key in set(blobs.keys())
    # committed longer ago than the grace: an orphan, whoever else is alive
    later = replace(ctx, clock=lambda: time.time() + ctx.settings.orphan_grace + 60)
    cat.heartbeat("other-node/7", "127.0.0.1:1", later.clock())
    assert recover(later).orphan_blobs_removed == 1 and key not in set(blobs.keys())


def test_what_a_deletion_could_not_remove_is_swept_while_the_server_runs(
    ctx: Context, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A deletion that met the object store down removed the catalog rows and logged a
    traceback per blob; the blobs stayed in the store until the next restart (on the
    two-node cluster, 93 in 15 s of SeaweedFS down), and so did a staging area whose
    removal failed (a resumable upload ended meanwhile). The housekeeping sweeps what
    nothing names now (OSDEPOT_ORPHAN_SWEEP_INTERVAL) once it is older than the grace,
    and the deletion says it in one line; a resumable upload's staging area stays."""
    caplog.set_level(logging.INFO)
    s = replace(
        ctx.settings, housekeeping_interval=0.1, orphan_sweep_interval=0.2, orphan_grace=1.0
    )
    left = ctx.blobs.create_staging()  # its removal failed: nothing names it
    left.write(b"the staging area of an upload that ended while the store was down")
    with TestClient(create_app(s, replace(ctx, settings=s)), base_url="https://testserver") as c:
        api = Api(c)
        api.login(ADMIN, ADMIN_PW)
        r = create(api, api.init("SCRIPT"), 10, "a.sh", imageType="SCRIPT", os="rhel")
        assert r.status_code == 201, r.text
        (paused,) = ctx.catalog.upload_stagings()  # named by its upload: kept
        fid = api.import_file("SCRIPT", "gone.sh", b"#!/bin/sh\necho gone\n", os="rhel")
        stored = ctx.catalog.get_file(fid)
        assert stored is not None
        key = stored.blob_key

        def down(*_a: object) -> None:
            raise StoreUnavailable("the object store http://127.0.0.1:9 does not answer")

        real = ctx.blobs.delete
        monkeypatch.setattr(ctx.blobs, "delete", down)
        r = c.delete(f"/osImages/{fid}")
        assert r.status_code == 200, r.text
        assert ctx.catalog.get_file(fid) is None and key in set(ctx.blobs.keys())
        said = [r for r in caplog.records if f"could not remove blob {key}" in r.getMessage()]
        assert len(said) == 1 and said[0].levelname == "WARNING" and said[0].exc_info is None
        # the sweep meets the store down too (once the blob is older than the grace):
        # a line, and it tries again
        deadline = time.monotonic() + 15
        while not any("orphan sweep:" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, "no sweep ran"
            time.sleep(0.05)
        monkeypatch.setattr(ctx.blobs, "delete", real)  # the store answers again
        while key in set(ctx.blobs.keys()) or left.name in dict(ctx.blobs.staging_leftovers()):
            assert time.monotonic() < deadline, "the orphans were not swept"
            time.sleep(0.05)
        assert paused in dict(ctx.blobs.staging_leftovers())
    swept = [r.getMessage() for r in caplog.records if "removed" in r.getMessage()]
    assert any(" staging leftovers removed" in m for m in swept), swept
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_the_listing_is_gzip_encoded_for_clients_that_take_it(api: Api) -> None:
    """GET /osImages: the same listing, gzip-encoded when Accept-Encoding takes gzip
    (pylxca's requests, browsers, Ruby's Net::HTTP all send it), as is when it does
    not or refuses it; a cached listing follows the repository's changes either way."""
    import gzip as gz

    job = api.init("SCRIPT")
    api.upload(job, "post.sh", b"#!/bin/sh\necho hi\n", os="rhel")

    def get(accept: str) -> Any:
        r = api.c.get("/osImages", headers={"Accept-Encoding": accept})
        assert r.status_code == 200 and "accept-encoding" in r.headers["vary"].lower()
        return r

    plain = get("identity")
    assert "content-encoding" not in plain.headers
    names = [f["name"] for f in plain.json()["installScriptFiles"]]
    assert names == ["post.sh"]
    for accept in ("gzip, deflate", "br;q=1.0, GZIP;q=0.5", "*", "x-gzip"):
        r = api.c.get("/osImages", headers={"Accept-Encoding": accept})
        raw = api.c.build_request("GET", "/osImages", headers={"Accept-Encoding": accept})
        streamed = api.c.send(raw, stream=True)
        body = b"".join(streamed.iter_raw())
        streamed.close()
        assert streamed.headers["content-encoding"] == "gzip", accept
        assert gz.decompress(body) == plain.content and len(body) < len(plain.content)
        assert r.json() == plain.json()
    for accept in ("gzip;q=0", "deflate", "gzip;q=nonsense", "*;q=0", ""):
        assert "content-encoding" not in get(accept).headers, accept

    job = api.init("SCRIPT")
    api.upload(job, "second.sh", b"#!/bin/sh\necho two\n", os="rhel")
    for accept in ("gzip", "identity"):
        listed = get(accept).json()["installScriptFiles"]
        assert sorted(f["name"] for f in listed) == ["post.sh", "second.sh"]


def test_an_unchanged_listing_is_answered_304_to_a_client_that_has_it(api: Api) -> None:
    """A client that sends back the ETag of its copy (a browser does by itself) gets
    304 and no body while the repository has not changed — a 10,000-entry listing is
    3.4 MB each time otherwise — and the new listing once it has."""
    api.import_file("SCRIPT", "post.sh", b"#!/bin/sh\necho hi\n", os="rhel")

    def get(accept: str = "identity", **headers: str) -> Any:
        return api.c.get("/osImages", headers={"Accept-Encoding": accept, **headers})

    plain, packed = get(), get("gzip")
    tag, gz_tag = plain.headers["etag"], packed.headers["etag"]
    assert tag.startswith('"') and tag.endswith('"') and gz_tag != tag
    assert "no-cache" in plain.headers["cache-control"]
    for asked in (tag, f"W/{tag}", f'"other", {tag}', "*"):
        r = get(**{"If-None-Match": asked})
        assert r.status_code == 304 and r.content == b"", asked
        assert r.headers["etag"] == tag and "accept-encoding" in r.headers["vary"].lower()
    assert get("gzip", **{"If-None-Match": gz_tag}).status_code == 304
    # Another representation's tag, or one of another listing: the whole listing.
    r = get(**{"If-None-Match": gz_tag})
    assert r.status_code == 200 and r.content == plain.content
    assert get(**{"If-None-Match": '"0123"'}).status_code == 200
    # A job made changes nothing listed: the tag holds. An import changes it.
    api.init("SCRIPT")
    assert get(**{"If-None-Match": tag}).status_code == 304
    api.import_file("SCRIPT", "second.sh", b"#!/bin/sh\necho two\n", os="rhel")
    r = get(**{"If-None-Match": tag})
    assert r.status_code == 200 and r.headers["etag"] != tag
    assert sorted(f["name"] for f in r.json()["installScriptFiles"]) == ["post.sh", "second.sh"]
    assert get(**{"If-None-Match": r.headers["etag"]}).status_code == 304


def test_clients_that_miss_the_listing_cache_together_wait_for_one_rendering(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight clients asking at once after a change cost one read and rendering of the
    whole repository, not eight (each a full read of 10,000 rows, say)."""
    import asyncio

    from osdepot.services.repository import Repository

    reads = []
    real = type(ctx.catalog).list_files

    def counted(self: Any) -> Any:
        reads.append(1)
        return real(self)

    monkeypatch.setattr(type(ctx.catalog), "list_files", counted)

    async def clients(compressed: bool) -> list[bytes]:
        repo = Repository(ctx)
        asks = [repo.rendered_listing(lambda li: repr(li).encode(), compressed) for _ in range(8)]
        return await asyncio.gather(*asks)

    first = asyncio.run(clients(False))
    assert len(reads) == 1 and len(set(first)) == 1
    assert len(set(asyncio.run(clients(True)))) == 1 and len(reads) == 1  # cached
    ctx.catalog.create_job(ImageType.SCRIPT, "admin", 1.0, None, "")  # no change
    asyncio.run(clients(False))
    assert len(reads) == 1
