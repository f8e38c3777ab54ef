"""Start-up recovery: finish or roll back whatever a crash interrupted.

Runs once, before the server accepts requests (never while uploads are running):
staging files are removed, jobs that were Running are stopped with a message (but
those of resumable uploads, which outlive the process), and
blobs the catalog does not reference (a crash between the rename and the catalog
transaction) are removed — but those another node's Running job wrote (on a store
the nodes share, one may be committing it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from osdepot.domain.jobs import JobStatus
from osdepot.messages import Messages
from osdepot.services.context import Context

log = logging.getLogger("osdepot.recovery")


@dataclass(frozen=True)
class RecoveryReport:
    """What start-up recovery found and did."""

    staging_removed: int
    jobs_failed: int
    orphan_blobs_removed: int


def recover(ctx: Context) -> RecoveryReport:
    # Only this node's jobs (its earlier processes', and those no node claimed): on a
    # shared catalog the other nodes' imports run on (services/nodes.py).
    prefix = ctx.node.rpartition("/")[0] + "/" if ctx.node else None
    # a local store's: this node's own folder (resumable uploads' staging areas stay:
    # they go on where their last checkpoint left them)
    staging = ctx.blobs.clear_staging(keep=ctx.catalog.upload_stagings())
    for name in ctx.catalog.open_staging(prefix):  # an object store's, by name
        try:
            ctx.blobs.remove_staging(name)
        except (OSError, ValueError):
            log.exception("could not remove staging %s", name)
    # the requests this node's earlier processes were serving are gone: their leases
    # on resumable uploads go with them
    ctx.catalog.release_leases(prefix or "")
    failed = ctx.catalog.fail_open_jobs(ctx.clock(), Messages.SERVER_INTERRUPTED.render({}), prefix)
    report = RecoveryReport(staging, failed, _sweep_orphans(ctx))
    if staging or failed or report.orphan_blobs_removed:
        log.warning("recovered from an interrupted run: %s", report)
    return report


def _sweep_orphans(ctx: Context) -> int:
    """Remove the blobs the catalog does not name (a crash between a blob's commit and
    its catalog row); how many. Not those a Running job wrote under its blob's key:
    another node's import, whose object an object store holds from the end of its
    transfer — through its content checks — to its catalog row. The jobs are read
    before the catalog is read again, so that a job that ends meanwhile is named there.
    (This node's own earlier jobs were stopped before: theirs go.)"""
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
    removed = 0
    for key in candidates:
        if key not in referenced and key not in owned:
            ctx.blobs.delete(key)
            removed += 1
    return removed


def staged_key(staging: str) -> str:
    """The key a blob gets from the staging area named ``staging`` (a local file
    ``KEY.part``; an object store's ``KEY/UPLOAD_ID``)."""
    return staging.partition("/")[0].removesuffix(".part")
