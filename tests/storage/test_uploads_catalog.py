"""The catalog's resumable uploads, on every catalog backend: opened with their job's
claim in one transaction, one lease at a time, offsets recorded with the job's
progress, expiry, the uploads whose job ended, and start-up keeping them."""

from __future__ import annotations

from dataclasses import replace

from osdepot.domain.images import ImageType
from osdepot.domain.jobs import JobStatus
from osdepot.domain.records import Upload
from osdepot.services.context import Context


def _upload(ctx: Context, job_id: int, uid: str = "a" * 32) -> Upload:
    return Upload(
        id=uid,
        job_id=job_id,
        created_by="admin",
        length=1000,
        offset=0,
        filename="x.tar.gz",
        params={"job_id": job_id, "checksum_type": None},
        protocol="tus",
        staging="k" * 32 + ".part",
        node="node-a",
        created_at=1.0,
        expires_at=100.0,
    )


def test_an_upload_opens_with_its_job_once(ctx: Context) -> None:
    cat = ctx.catalog
    job = cat.create_job(ImageType.SOFTWARE, "admin", 1.0, None, "n")
    up = _upload(ctx, job.id)
    assert cat.open_upload(up, 0, 2.0)
    assert not cat.open_upload(replace(up, id="b" * 32), 0, 2.0)  # the job is taken
    j = cat.get_job(job.id)
    assert j is not None and j.status is JobStatus.RUNNING and j.declared_size == 1000
    assert cat.get_upload(up.id) == up
    assert cat.upload_of_job(job.id) == up
    assert cat.count_uploads("admin") == 1 and cat.count_uploads("other") == 0
    assert cat.upload_stagings() == [up.staging]
    # the job's reservation: its declared size less what arrived
    assert cat.usage().bytes_reserved == 1000
    assert cat.set_upload_offset(up.id, 400, None, 200.0, 40)
    assert cat.usage().bytes_reserved == 600
    got = cat.get_upload(up.id)
    assert got is not None and got.offset == 400 and got.expires_at == 200.0
    j = cat.get_job(job.id)
    assert j is not None and j.bytes_received == 400 and j.percentage == 40
    # restarts and node watches leave the upload's job alone
    assert cat.fail_open_jobs(3.0, {"id": "x"}) == 0
    assert cat.open_staging() == []


def test_one_lease_at_a_time(ctx: Context) -> None:
    cat = ctx.catalog
    job = cat.create_job(ImageType.SOFTWARE, "admin", 1.0, None, "n")
    up = _upload(ctx, job.id)
    assert cat.open_upload(up, 0, 2.0)
    assert cat.lease_upload(up.id, "node-a/1#x", 10.0, 20.0)
    assert not cat.lease_upload(up.id, "node-a/2#y", 15.0, 25.0)
    assert cat.lease_upload(up.id, "node-a/1#x", 15.0, 30.0)  # renewed
    assert cat.lease_upload(up.id, "node-a/2#y", 31.0, 40.0)  # the first one ran out
    cat.release_upload(up.id, "node-a/1#x")  # not its own any more: nothing
    assert not cat.lease_upload(up.id, "node-b/1#z", 32.0, 40.0)
    assert cat.release_leases("node-a/") == 1  # node-a restarted
    assert cat.lease_upload(up.id, "node-b/1#z", 32.0, 40.0)


def test_expired_and_ended_uploads(ctx: Context) -> None:
    cat = ctx.catalog
    jobs = [cat.create_job(ImageType.SOFTWARE, "admin", 1.0, None, "n") for _ in range(3)]
    ups = [_upload(ctx, j.id, str(i) * 32) for i, j in enumerate(jobs)]
    for up in ups:
        assert cat.open_upload(up, 0, 2.0)
    cat.set_upload_offset(ups[1].id, 10, None, 500.0, 1)
    assert cat.lease_upload(ups[2].id, "n/1#a", 90.0, 1000.0)  # busy: not expired
    assert [u.id for u in cat.expired_uploads(150.0)] == [ups[0].id]
    cat.finish_job(jobs[1].id, JobStatus.CANCELLED, 3.0, {"id": "c"})
    assert [u.id for u in cat.ended_uploads()] == [ups[1].id]
    assert cat.delete_upload(ups[1].id) == replace(ups[1], offset=10, expires_at=500.0)
    assert cat.delete_upload(ups[1].id) is None
    assert len(cat.list_uploads()) == 2
