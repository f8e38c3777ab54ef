"""The catalog's resumable uploads, on every catalog backend: opened with their job's
claim in one transaction, one lease at a time, offsets recorded with the job's
progress, expiry, the uploads whose job ended, and start-up keeping them; and the
admission of jobs and uploads (what is held, read in the transaction that adds)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from osdepot.domain.images import ImageType
from osdepot.domain.jobs import JobStatus
from osdepot.domain.records import Holdings, Upload, UserHolding
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


# -- admissions: what is held, read in the transaction that adds to it ----------------------


class Refused(Exception):
    pass


def test_an_admission_sees_what_is_held_and_its_refusal_adds_nothing(ctx: Context) -> None:
    cat = ctx.catalog
    cat.create_job(ImageType.OS, "admin", 1.0, 700, "")
    cat.create_job(ImageType.OS, "other", 1.0, 50, "")
    job = cat.create_job(ImageType.SOFTWARE, "admin", 1.0, None, "")
    assert cat.open_upload(_upload(ctx, job.id), 0, 2.0)  # reserves its length, 1000
    seen: list[Holdings] = []

    def refuse(held: Holdings) -> None:
        seen.append(held)
        raise Refused

    with pytest.raises(Refused):
        cat.create_job(ImageType.OS, "admin", 3.0, 10, "", refuse)
    (held,) = seen
    assert held.usage.bytes_reserved == 1750 and held.user == UserHolding(held=1700, staged=0)
    assert (held.user_open_jobs, held.user_uploads) == (2, 1)
    assert len(cat.list_jobs()) == 3 and cat.usage().bytes_reserved == 1750
    # a refused upload leaves its job Pending and records nothing
    pending = cat.create_job(ImageType.SOFTWARE, "other", 1.0, None, "")
    up = replace(_upload(ctx, pending.id, "c" * 32), created_by="other")
    with pytest.raises(Refused):
        cat.open_upload(up, 0, 4.0, refuse)
    assert seen[1].user_open_jobs == 2 and seen[1].user.held == 50
    assert seen[1].user_uploads == 0
    j = cat.get_job(pending.id)
    assert j is not None and j.status is JobStatus.PENDING and j.declared_size is None
    assert cat.get_upload(up.id) is None and cat.count_uploads("other") == 0
    # and one that passes adds
    assert cat.open_upload(up, 0, 4.0, lambda held: None)
    assert cat.count_uploads("other") == 1


def test_admissions_take_turns(ctx: Context) -> None:
    """Eight threads at once, each admitting a job while its user has fewer than three
    open: exactly three are made, each admission seeing the ones before it."""
    cat = ctx.catalog
    barrier = threading.Barrier(8)
    seen: list[int] = []

    def below_three(held: Holdings) -> None:
        seen.append(held.user_open_jobs)
        time.sleep(0.02)  # a check that takes a while: the window others would use
        if held.user_open_jobs >= 3:
            raise Refused

    def make() -> str:
        barrier.wait()
        try:
            cat.create_job(ImageType.SCRIPT, "admin", 1.0, None, "", below_three)
        except Refused:
            return "refused"
        return "made"

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda _i: make(), range(8)))
    assert sorted(outcomes) == ["made"] * 3 + ["refused"] * 5
    assert sorted(seen) == [0, 1, 2, 3, 3, 3, 3, 3]
    assert cat.job_counts_of("admin") == (3, 0)


@pytest.mark.parametrize("backend", ["postgresql"])
def test_an_upload_deleted_twice_at_once_is_deleted_once(ctx: Context) -> None:
    """Two deletions at once on PostgreSQL (a cancel and the expiry sweep, or two
    `DELETE`s): both read the row before either committed, and both answered it — each
    caller then ended the upload (its staging, its job). One gets the row now."""
    from sqlalchemy import text

    cat = ctx.catalog
    job = cat.create_job(ImageType.SOFTWARE, "admin", 1.0, None, "n")
    up = _upload(ctx, job.id)
    assert cat.open_upload(up, 0, 2.0)
    answer: list[Upload | None] = []
    with cat.engine.connect() as other:  # type: ignore[attr-defined]
        other.execute(text("DELETE FROM uploads WHERE id = :i"), {"i": up.id})  # in progress
        deletion = threading.Thread(target=lambda: answer.append(cat.delete_upload(up.id)))
        deletion.start()
        deletion.join(1.0)
        assert deletion.is_alive()  # waits for the other
        other.commit()
    deletion.join(20)
    assert answer == [None]  # before: the row, a second time
