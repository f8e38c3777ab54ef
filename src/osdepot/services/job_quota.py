"""How many jobs one user may have: every job is a row of the catalog and an entry of
``GET /tasks``, so that a user who makes jobs in a loop — a client's bug as often as an
attack — cannot grow either without bound.

At most ``max_open_jobs_per_user`` jobs of one user are open (Pending or Running:
imports waiting for their file or receiving it, exports, deployments); another is
refused with a message saying so. Finished jobs are history: of each user's, the
``max_finished_jobs_per_user`` that ended last are kept, and older ones are removed when
a new job is made (retention, ``OSDEPOT_JOB_RETENTION``, removes them anyway later).
"""

from __future__ import annotations

from osdepot.errors import error
from osdepot.messages import Messages
from osdepot.services.context import Context


def make_room_for_jobs(ctx: Context, user_name: str, new: int = 1) -> None:
    """(Blocking.) Before ``new`` jobs are made for ``user_name``: refuse them when the
    user's open jobs would pass the limit; remove the user's oldest finished jobs past
    the number kept."""
    s = ctx.settings
    opened, finished = ctx.catalog.job_counts_of(user_name)
    check_open_jobs(ctx, user_name, opened, new)
    keep = s.max_finished_jobs_per_user
    if keep and finished >= keep:
        ctx.catalog.trim_finished_jobs(user_name, keep - 1)


def check_open_jobs(ctx: Context, user_name: str, opened: int, new: int = 1) -> None:
    """Refuse ``new`` jobs more for ``user_name``, who has ``opened`` open jobs, past
    ``max_open_jobs_per_user`` (checked again on each job's admission:
    services/admission.py)."""
    cap = ctx.settings.max_open_jobs_per_user
    if cap and opened + new > cap:
        raise error(
            Messages.TOO_MANY_JOBS,
            user=user_name,
            detail=f"{user_name} has {opened} open jobs (Pending or Running); one user "
            f"may have {cap} (OSDEPOT_MAX_OPEN_JOBS_PER_USER). Upload the files of the "
            "Pending import jobs, or cancel the ones no longer needed "
            "(PUT /tasks with the cancel action).",
        )
