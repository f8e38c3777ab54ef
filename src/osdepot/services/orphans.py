"""Blobs no catalog row names ("orphans"), staging areas nothing names, and their
removal.

A blob becomes an orphan when its deletion cannot remove it (the object store down:
the catalog rows are gone already) or when a server stops between a blob's commit and
its catalog row (a crash, a cancel that came too late). Start-up recovery removes them,
and every server process again every ``OSDEPOT_ORPHAN_SWEEP_INTERVAL`` seconds, so that
an object store that was down for a while does not keep the bytes of what was deleted
until the next restart. Staging areas that nothing names go the same way (the sweep
only; at start-up a node removes its own by name).

On a store the nodes share, a blob without a row may be another node's work in
progress: an import's object from the end of its transfer to its row (a Running job
names it: its staging area's key), a profile archive's files from their commit, one by
one as the archive is unpacked, to the archive's row, a customised file's new text
(``PUT /osImages/{id}``) for the moment between its commit and its row. No job names
the last two, so the sweep leaves every blob committed less than
``OSDEPOT_ORPHAN_GRACE`` seconds ago; a node starting alone (no other node alive)
removes them at once, as nothing else can be committing.
"""

from __future__ import annotations

import logging

from osdepot.domain.jobs import JobStatus
from osdepot.errors import StoreUnavailable
from osdepot.services.context import Context

log = logging.getLogger("osdepot.repository")


def sweep_orphans(ctx: Context, grace: float) -> int:
    """Remove the blobs the catalog does not name, committed at least ``grace`` seconds
    ago, but those a Running job wrote under its blob's key; how many. The jobs are read
    before the catalog is read again, so that a job that ends meanwhile is named there.
    Runs in a worker thread."""
    referenced = ctx.catalog.blob_keys()
    candidates = [key for key in list(ctx.blobs.keys()) if key not in referenced]
    if not candidates:
        return 0
    owned = {
        staged_key(job.staging)
        for job in ctx.catalog.list_jobs()
        if job.status is JobStatus.RUNNING and job.staging
    }
    referenced = ctx.catalog.blob_keys()
    now = ctx.clock()
    removed = 0
    for key in candidates:
        if key in referenced or key in owned:
            continue
        if grace > 0 and not old_enough(ctx.blobs.committed_at(key), now, grace):
            continue
        ctx.blobs.delete(key)
        removed += 1
    return removed


def sweep_staging(ctx: Context, grace: float) -> int:
    """Remove the staging areas no Running job and no resumable upload names, last
    written (an object store's: begun) at least ``grace`` seconds ago; how many. A
    staging area is named by its job a moment after it is made, and a profile
    archive's files and a customised file's text are staged with no job naming them:
    the grace keeps them. What is left: an area whose removal met the store down (a
    resumable upload ended or expired, an import that failed), an object store's
    multipart upload that a crash left and no node's start-up aborted. Runs in a
    worker thread."""
    leftovers = ctx.blobs.staging_leftovers()
    if not leftovers:
        return 0
    owned = {
        job.staging
        for job in ctx.catalog.list_jobs()
        if job.status is JobStatus.RUNNING and job.staging
    }
    owned |= set(ctx.catalog.upload_stagings())
    now = ctx.clock()
    removed = 0
    for name, _size in leftovers:
        if name in owned:
            continue
        if not old_enough(ctx.blobs.staging_touched_at(name), now, grace):
            continue
        ctx.blobs.remove_staging(name)
        removed += 1
    return removed


def old_enough(at: float | None, now: float, grace: float) -> bool:
    """Whether what is dated ``at`` (None: it is gone) is at least ``grace`` seconds old."""
    return at is not None and now - at >= grace


def others_alive(ctx: Context) -> bool:
    """Whether a server process of another node beats in the catalog (this node's own
    earlier processes, gone, do not count)."""
    mine = ctx.node.rpartition("/")[0] + "/" if ctx.node else None
    since = ctx.clock() - ctx.settings.node_timeout
    return any(
        beat >= since and (mine is None or not name.startswith(mine))
        for name, _address, _started, beat in ctx.catalog.list_nodes()
    )


async def remove_blob(ctx: Context, key: str) -> None:
    """Remove a blob whose catalog rows are gone. If the store fails, the blob is an
    orphan the sweep removes later: said in a line, the request's answer unchanged."""
    try:
        await ctx.run(ctx.blobs.delete, key)
    except StoreUnavailable as exc:
        log.warning("could not remove blob %s (%s); the orphan sweep removes it later", key, exc)
    except OSError:
        log.exception("could not remove blob %s; the orphan sweep removes it later", key)


def staged_key(staging: str) -> str:
    """The key a blob gets from the staging area named ``staging`` (a local file
    ``KEY.part``; an object store's ``KEY/UPLOAD_ID``)."""
    return staging.partition("/")[0].removesuffix(".part")
