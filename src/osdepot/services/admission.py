"""Admission of jobs and uploads: the limits a new job or resumable upload may not pass
— the store's free space less what open imports reserve, the repository's byte and
image limits, one user's share of the reservations, one user's open jobs and open
resumable uploads — checked on what is held *inside the catalog transaction that adds
the job or the upload* (``Catalog.create_job``/``open_upload`` with an ``admit``
check). Admissions take turns there (storage/catalog/base.py: ``admit_in``), so that
requests arriving at once — from one client's threads, several workers or several
nodes — are checked one after the other and cannot together pass a limit that each of
them, checked alone against the same reading, would have kept. An import's commit is
admitted the same way against the repository's own limits (``OSDEPOT_MAX_IMAGES``,
``OSDEPOT_MAX_REPOSITORY_BYTES``): imports that end at once cannot together pass them.
"""

from __future__ import annotations

from osdepot.domain.images import ImageType
from osdepot.domain.records import Holdings, User
from osdepot.errors import error
from osdepot.messages import Messages
from osdepot.ports import Admit
from osdepot.services.context import Context
from osdepot.services.job_quota import check_open_jobs
from osdepot.services.space import check_space, check_user_reservations


def admission(
    ctx: Context,
    user: User,
    itype: ImageType,
    *,
    size: int | None = None,
    own: int = 0,
    reserve: int | None = None,
    jobs: int = 0,
    uploads: int = 0,
) -> Admit:
    """The check of one admission: a file of ``size`` bytes must fit (``own``: the
    reservation of its own job, counted in ``size``); ``reserve`` more bytes reserved
    must stay within the user's share; ``jobs`` more open jobs and ``uploads`` more
    resumable uploads within the user's limits."""

    def admit(held: Holdings) -> None:
        if size is not None:
            check_space(ctx, size, itype, own, held.usage)
        if reserve is not None:
            check_user_reservations(ctx, user, reserve, held.user)
        if jobs:
            check_open_jobs(ctx, user.name, held.user_open_jobs, jobs)
        if uploads:
            check_open_uploads(ctx, held.user_uploads, uploads)

    return admit


def check_open_uploads(ctx: Context, opened: int, new: int = 1) -> None:
    """Refuse ``new`` resumable uploads more for a user who has ``opened`` of them, past
    ``max_open_uploads_per_user``."""
    cap = ctx.settings.max_open_uploads_per_user
    if cap and opened + new > cap:
        raise error(
            Messages.REPOSITORY_FULL,
            detail=f"You have {opened} resumable uploads open; one user may have {cap} "
            "(OSDEPOT_MAX_OPEN_UPLOADS_PER_USER). Finish or cancel one of them first.",
        )


def commit_admission(ctx: Context, itype: ImageType, size: int) -> Admit:
    """The check of an import's commit, which adds ``size`` bytes (and, for an OS
    medium, an OS image): the repository's limits on stored bytes and OS images."""

    def admit(held: Holdings) -> None:
        s = ctx.settings
        usage = held.usage
        if itype is ImageType.OS and s.max_images and usage.images >= s.max_images:
            raise error(
                Messages.REPOSITORY_FULL,
                detail=f"The repository is limited to {s.max_images} OS images and holds "
                f"{usage.images}.",
            )
        if s.max_repository_bytes and usage.bytes_stored + size > s.max_repository_bytes:
            raise error(
                Messages.REPOSITORY_FULL,
                detail=f"The repository is limited to {s.max_repository_bytes} bytes and "
                f"holds {usage.bytes_stored}; the {size} bytes of this import do not fit.",
            )

    return admit
