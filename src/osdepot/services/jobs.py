"""Tasks: listing, cancelling and removing jobs; expiry and retention."""

from __future__ import annotations

import logging

from osdepot.domain.jobs import FINISHED, OPEN, JobStatus
from osdepot.domain.records import Job, User
from osdepot.errors import Missing, error
from osdepot.messages import Messages
from osdepot.services.auth import is_job_admin
from osdepot.services.context import Context
from osdepot.services.resumable import ResumableUploads

log = logging.getLogger("osdepot.jobs")


def parse_job_ids(raw: str) -> list[int]:
    """A comma-separated job id list; 404 for an id that cannot exist."""
    ids: list[int] = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        if not (part.isascii() and part.isdigit()) or len(part) > 18:
            raise error(Messages.JOB_NOT_FOUND, job_id=part[:40])
        ids.append(int(part))
    if not ids:
        raise error(Messages.MISSING_PARAMETER, name="job id", detail="No job id was given.")
    return ids


def _check_owner(user: User, jobs: list[Job], verb: str) -> None:
    """Users act on their own jobs; lxc-supervisor and lxc-admin on anybody's."""
    if not is_job_admin(user) and any(j.created_by != user.name for j in jobs):
        raise error(
            Messages.FORBIDDEN,
            user=user.name,
            role=user.role,
            privilege=f"{verb} jobs of other users",
        )


class Jobs:
    """Import jobs as LXCA tasks: finding, cancelling and removing them, and the
    housekeeping that expires unused jobs and forgets old ones."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def find(self, ids: list[int] | None) -> list[Job]:
        jobs = await self.ctx.read(lambda c: c.list_jobs(ids))
        if ids is not None:
            missing = sorted(set(ids) - {j.id for j in jobs})
            if missing:
                raise error(Messages.JOB_NOT_FOUND, job_id=",".join(map(str, missing)))
        return jobs

    async def cancel(self, user: User, ids: list[int]) -> list[Job]:
        """Cancel open jobs; an upload in progress is aborted and its staging removed.
        Finished jobs in the list are left as they are."""
        jobs = await self.find(ids)
        _check_owner(user, jobs, "cancel")
        for job in jobs:
            if job.status not in OPEN:
                continue
            msg = Messages.JOB_CANCELLED.render({"job_id": job.id, "user": user.name})
            changed = await self.ctx.run(
                self.ctx.catalog.finish_job,
                job.id,
                JobStatus.CANCELLED,
                self.ctx.clock(),
                msg,
                only_if=OPEN,
                cancelled_by=user.name,
            )
            if changed:
                # An import running in this process stops at once; elsewhere at its
                # next progress update, which finds the job Cancelled.
                self.ctx.running.cancel(job.id, user.name)
                # a resumable upload between its requests: its bytes are freed now
                await ResumableUploads(self.ctx).cancelled(job.id)
                log.info("job %s cancelled by %s", job.id, user.name)
        return await self.find(ids)

    async def delete(self, user: User, ids: list[int]) -> None:
        jobs = await self.find(ids)
        _check_owner(user, jobs, "remove")
        _finished(jobs)
        try:
            await self.ctx.run(self.ctx.catalog.delete_jobs, ids)
        except Missing as exc:
            # changed since the check above (removed by another request, or running
            # again); nothing was removed: the checks say which
            _finished(await self.find(ids))
            raise error(Messages.JOB_NOT_FOUND, job_id=",".join(exc.keys)) from None

    def housekeeping(self) -> tuple[int, int]:
        """Expire unused jobs and remove old finished ones (blocking; run in a thread)."""
        s, now = self.ctx.settings, self.ctx.clock()
        expired = self.ctx.catalog.expire_jobs(
            now - s.job_expiry,
            now,
            Messages.JOB_EXPIRED.render({"job_id": "", "seconds": s.job_expiry}),
        )
        expired += ResumableUploads(self.ctx).sweep()
        purged = self.ctx.catalog.purge_jobs(now - s.job_retention)
        self.ctx.catalog.purge_sessions(now - s.session_timeout)
        # Counts of failed logins end with the lock they would lead to.
        self.ctx.catalog.purge_login_failures(now - s.login_lockout_seconds)
        # the room kept on the catalog's disk, again once a full disk has room
        self.ctx.keep_reserve()
        return expired, purged


def _finished(jobs: list[Job]) -> None:
    """FQXHMJM9002J for the first job of ``jobs`` that has not ended."""
    for job in jobs:
        if job.status not in FINISHED:
            raise error(Messages.JOB_RUNNING, job_id=job.id)
