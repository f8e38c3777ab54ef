"""Start-up recovery: finish or roll back whatever a crash interrupted.

Runs once, before the server accepts requests (never while uploads are running):
staging files are removed, jobs that were Running are stopped with a message (but
those of resumable uploads, which outlive the process), and
blobs the catalog does not reference (a crash between the rename and the catalog
transaction) are removed — but those another node may be committing
(services/orphans.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from osdepot.messages import Messages
from osdepot.services.context import Context
from osdepot.services.orphans import others_alive, sweep_orphans

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
    # alone, nothing else can be committing: the orphans go at once (services/orphans.py)
    grace = ctx.settings.orphan_grace if others_alive(ctx) else 0
    report = RecoveryReport(staging, failed, sweep_orphans(ctx, grace))
    if staging or failed or report.orphan_blobs_removed:
        log.warning("recovered from an interrupted run: %s", report)
    return report
