"""The server processes sharing one catalog ("nodes") watch each other.

Every process announces itself as ``NODE_NAME/PID`` (``OSDEPOT_NODE_NAME``, default
host name:port) with a heartbeat every third of ``OSDEPOT_NODE_TIMEOUT`` (30 s), and
each job it runs carries its name. A node silent for longer than the timeout is
taken for dead: the first survivor to notice stops its Running jobs with
``FQXHMFC9048M`` and forgets it, in one transaction (two survivors never both act).
What the dead node staged on its own disk is removed when it starts again (start-up
recovery, which stops only its own earlier processes' jobs).
"""

from __future__ import annotations

import logging

from osdepot.messages import Messages
from osdepot.services.context import Context

log = logging.getLogger("osdepot.nodes")


class Nodes:
    """This process's heartbeat, and the watch over the other nodes."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def beat(self) -> None:
        s = self.ctx.settings
        self.ctx.catalog.heartbeat(self.ctx.node, f"{s.host}:{s.port}", self.ctx.clock())

    def sweep(self) -> list[int]:
        """Stop the Running jobs of every node silent past the timeout; the jobs."""
        ctx = self.ctx
        timeout = ctx.settings.node_timeout
        now = ctx.clock()
        silent_since = now - timeout
        stopped: list[int] = []
        for node in ctx.catalog.lost_nodes(silent_since):
            if node == ctx.node:
                continue  # this process is alive: its own beat was late, not lost
            message = Messages.NODE_LOST.render(
                {"node": node, "seconds": f"{timeout:g}", "by": ctx.node}
            )
            found = ctx.catalog.fail_node_jobs(node, silent_since, now, message)
            ctx.catalog.release_leases(node + "#")  # its requests on resumable uploads
            ids = [i for i, _ in found]
            log.warning(
                "node %s sent no heartbeat for %g s; stopped its jobs %s",
                node,
                timeout,
                ", ".join(map(str, ids)) or "(none)",
            )
            for _job, staging in found:
                if staging:  # an S3 upload is aborted; a file on the dead node's disk
                    try:  # goes when that node starts again
                        ctx.blobs.remove_staging(staging)
                    except (OSError, ValueError):
                        log.exception("could not remove staging %s", staging)
            stopped += ids
        return stopped

    def leave(self) -> None:
        """A clean stop: forget this node at once (its imports have ended already)."""
        ctx = self.ctx
        ctx.catalog.fail_node_jobs(
            ctx.node, float("inf"), ctx.clock(), Messages.SERVER_INTERRUPTED.render({})
        )
