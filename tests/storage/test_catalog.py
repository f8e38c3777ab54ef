from __future__ import annotations

import threading

import pytest

from osdepot.domain.images import ImageType
from osdepot.domain.jobs import JobStatus
from osdepot.domain.records import OsImage, Profile, StoredFile
from osdepot.errors import OsdepotError
from osdepot.services.context import Context


def _file(fid: str, key: str, itype: ImageType = ImageType.SCRIPT) -> StoredFile:
    return StoredFile(
        id=fid,
        image_type=itype,
        name=fid,
        size=3,
        sha256="0" * 64,
        blob_key=key,
        imported_by="admin",
        imported_at=1.0,
        job_id=None,
    )


def test_only_one_claim_wins(ctx: Context) -> None:
    cat = ctx.catalog
    job = cat.create_job(ImageType.OS, "admin", 1.0, None, "")
    wins: list[bool] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        barrier.wait()
        wins.append(cat.claim_job(job.id, JobStatus.PENDING, 0, 2.0, None, "a.iso"))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 7 + [True]


def test_commit_needs_a_running_job(ctx: Context) -> None:
    cat = ctx.catalog
    job = cat.create_job(ImageType.SCRIPT, "admin", 1.0, None, "")
    with pytest.raises(OsdepotError) as exc:
        cat.commit_import(job.id, _file("f1", "a" * 32), None, 2.0, {})
    assert exc.value.status == 409
    assert cat.list_files() == []


def test_delete_is_all_or_nothing(ctx: Context) -> None:
    cat = ctx.catalog
    for i, fid in enumerate(("f1", "f2")):
        job = cat.create_job(ImageType.SCRIPT, "admin", 1.0, None, "")
        assert cat.claim_job(job.id, JobStatus.PENDING, 0, 1.0, None, fid)
        cat.commit_import(job.id, _file(fid, str(i) * 32), None, 2.0, {})
    with pytest.raises(OsdepotError) as exc:
        cat.delete_objects(["f1", "nope"])
    assert exc.value.status == 404
    assert len(cat.list_files()) == 2
    assert cat.delete_objects(["f1"]) == ["0" * 32]
    assert [f.id for f in cat.list_files()] == ["f2"]


def test_image_with_profiles(ctx: Context) -> None:
    cat = ctx.catalog
    job = cat.create_job(ImageType.OS, "admin", 1.0, None, "")
    assert cat.claim_job(job.id, JobStatus.PENDING, 0, 1.0, None, "r.iso")
    prof = Profile(id="r9|r9-x86_64-install-Basic", image_id="r9", name="Basic", profile="Basic")
    img = OsImage(id="r9", name="r9", file_id="f", created_at=1.0, profiles=(prof,))
    cat.commit_import(job.id, _file("f", "c" * 32, ImageType.OS), img, 2.0, {})
    with pytest.raises(OsdepotError):  # image and its own profile in one request
        cat.delete_objects(["r9", prof.id])
    assert cat.delete_objects([prof.id]) == []
    got = cat.get_image("r9")
    assert got is not None and got.profiles == ()
    assert cat.delete_objects(["r9"]) == ["c" * 32]
    assert cat.list_files() == [] and cat.list_images() == []


def test_reservations_count_open_jobs_only(ctx: Context) -> None:
    cat = ctx.catalog
    a = cat.create_job(ImageType.OS, "admin", 1.0, 1000, "")
    cat.create_job(ImageType.OS, "admin", 1.0, 500, "")
    assert cat.usage().bytes_reserved == 1500
    cat.claim_job(a.id, JobStatus.PENDING, 0, 1.0, 1000, "x.iso")
    cat.update_progress(a.id, 400, 40)
    assert cat.usage().bytes_reserved == 1100
    cat.finish_job(a.id, JobStatus.STOPPED, 2.0, {})
    assert cat.usage().bytes_reserved == 500
