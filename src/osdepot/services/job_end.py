"""A job's end written to the catalog, whether or not the catalog answers at that
moment.

A job's work ends in its own task (an import, a pull, an export, a deployment); its
end is then one catalog write (or a few). When the catalog cannot be reached
(PostgreSQL restarting, the network) or stays busy, the write is said in one line and
tried again in the background until the catalog answers, for ``END_RETRY_SECONDS`` at
most: the job would otherwise show Running — holding its place among the user's open
jobs, its reservation, a host's deployment — until a restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from osdepot.services.context import Context, catalog_words

log = logging.getLogger("osdepot.jobs")

#: How long an ended job's end is tried again while the catalog cannot be reached.
END_RETRY_SECONDS = 600.0


async def record_end(ctx: Context, job_id: int, write: Callable[[], object]) -> None:
    """Run ``write`` (blocking: in a worker thread); when the catalog cannot be reached
    or is busy, again in the background (``ctx.running.later``, stopped at the server's
    stop). Other errors are raised."""
    try:
        await ctx.run(write)
        return
    except ctx.catalog_errors as failed:
        if not (ctx.unreachable(failed) or ctx.busy(failed)):
            raise
        log.warning(
            "job %s: its end is recorded once the catalog answers again (%s)",
            job_id,
            catalog_words(failed),
        )

    async def again() -> None:
        delay, deadline = 0.5, time.monotonic() + END_RETRY_SECONDS
        while True:
            await asyncio.sleep(delay)
            try:
                await ctx.run(write)
                log.info("job %s: its end recorded, the catalog answering again", job_id)
                return
            except ctx.catalog_errors as failed:
                retry = ctx.unreachable(failed) or ctx.busy(failed)
                if not retry or time.monotonic() > deadline:
                    log.error(
                        "job %s: its end could not be recorded (%s); it shows Running "
                        "until the server restarts",
                        job_id,
                        catalog_words(failed),
                    )
                    return
            delay = min(delay * 2, 5.0)

    ctx.running.later(again())
