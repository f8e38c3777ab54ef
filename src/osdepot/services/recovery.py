"""Start-up recovery: finish or roll back whatever a crash interrupted.

Runs once, before the server accepts requests (never while uploads are running):
staging files are removed, jobs that were Running are stopped with a message (but
those of resumable uploads, which outlive the process), and
blobs the catalog does not reference (a crash between the rename and the catalog
transaction) are removed — in a store other live nodes share, only once they are an
hour old (one of them may be committing it).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from osdepot.messages import Messages
from osdepot.services.context import Context

log = logging.getLogger("osdepot.recovery")

#: An object the catalog does not name, in a store other live nodes write to, is left
#: while it is younger than this: a node commits an import's object, then its catalog
#: row, within seconds. A later start, or ``osdepot fsck --repair``, removes it.
ORPHAN_GRACE = 3600.0


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
    its catalog row); how many. The catalog is read again after the store is listed
    (an import that committed meanwhile is named then), and in a store other live
    nodes write to, an object younger than :data:`ORPHAN_GRACE` is left: it may be one
    such a node is committing."""
    referenced = ctx.catalog.blob_keys()
    candidates = [key for key in list(ctx.blobs.keys()) if key not in referenced]
    if not candidates:
        return 0
    referenced = ctx.catalog.blob_keys()
    careful = _other_nodes_alive(ctx)
    removed = 0
    for key in candidates:
        if key in referenced:
            continue
        if careful:
            try:
                if time.time() - ctx.blobs.modified(key) < ORPHAN_GRACE:
                    continue
            except FileNotFoundError:
                continue
        ctx.blobs.delete(key)
        removed += 1
    return removed


def _other_nodes_alive(ctx: Context) -> bool:
    """Whether another node may be writing to this process's blob store now: a store
    shared by the nodes, and a node other than this one heard from within the node
    timeout."""
    if not ctx.blobs.shared:
        return False
    mine = ctx.node.rpartition("/")[0]
    since = ctx.clock() - ctx.settings.node_timeout
    return any(
        name.rpartition("/")[0] != mine and last >= since
        for name, _address, _started, last in ctx.catalog.list_nodes()
    )
