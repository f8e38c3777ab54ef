"""Work a serving process does once when it starts."""

from __future__ import annotations

from osdepot.content import osinfo
from osdepot.services.context import Context


async def preload_media_database(ctx: Context) -> None:
    """Load osinfo-db off the event loop, so that the first OS import does not wait for
    it (about 0.6 s for a current osinfo-db)."""
    await ctx.run(osinfo.load, ctx.settings.osinfo_path or None)
