"""What the repository holds: listing and deleting."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from osdepot.domain.records import OsImage, StoredFile
from osdepot.errors import HeldBy, Missing, error
from osdepot.messages import Messages
from osdepot.services.context import Context

log = logging.getLogger("osdepot.repository")


@dataclass(frozen=True)
class Listing:
    """The repository as `GET /osImages` shows it, with the catalog generation it was
    built from."""

    images: list[OsImage]
    files: list[StoredFile]


@dataclass(frozen=True)
class Storage:
    """How much the repository holds, and the space left where its files are kept
    (None when the store cannot tell, as object stores cannot)."""

    files: int
    images: int
    used_bytes: int
    reserved_bytes: int
    free_bytes: int | None


def parse_id_list(raw: str) -> list[str]:
    ids = [p.strip() for p in raw.split(",") if p.strip()]
    if not ids:
        raise error(Messages.MISSING_PARAMETER, name="id", detail="No id was given.")
    return ids


class Repository:
    """What the repository holds: listing it and deleting from it."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def storage(self) -> Storage:
        usage = await self.ctx.run(self.ctx.catalog.usage)
        free = await self.ctx.run(self.ctx.blobs.free_bytes)
        return Storage(usage.files, usage.images, usage.bytes_stored, usage.bytes_reserved, free)

    async def listing(self) -> Listing:
        def both() -> Listing:
            return Listing(self.ctx.catalog.list_images(), self.ctx.catalog.list_files())

        return await self.ctx.run(both)

    async def rendered_listing(self, render: Callable[[Listing], bytes]) -> bytes:
        """The listing as ``render`` makes it, kept until the repository's generation
        changes: a listing of 10,000 entries then costs one small query instead of a
        full read and rendering. One cache per process (in the context)."""
        ctx = self.ctx
        generation = await ctx.read(lambda c: c.generation())
        cached = ctx.listing_cache
        if cached is None or cached[0] != generation:
            cached = (generation, render(await self.listing()))
            ctx.listing_cache = cached
        return cached[1]

    async def profiles(self, ids: list[str] | None) -> list[OsImage]:
        """OS images with only the profiles named in ``ids`` (all profiles when None)."""
        images = await self.ctx.run(self.ctx.catalog.list_images)
        if ids is None:
            return [i for i in images if i.profiles]
        wanted = set(ids)
        out = []
        for img in images:
            keep = tuple(p for p in img.profiles if p.id in wanted)
            if keep:
                out.append(OsImage(**{**img.__dict__, "profiles": keep}))
        return out

    async def delete(self, ids: list[str]) -> None:
        """Delete in one transaction (all or nothing), then remove the blobs.

        A list that names an OS image together with one of its own profiles is
        refused: deleting the image deletes its profiles, so the client cannot have
        meant both (and would otherwise be told a profile was deleted twice)."""
        found = await self.ctx.run(self.ctx.catalog.find_profiles, ids)
        mixed = [p.id for p in found if p.image_id in ids]
        if mixed:
            raise error(
                Messages.INVALID_VALUE,
                name="id list",
                detail="The list names an OS image together with its own "
                f"profile(s) {', '.join(mixed)}; deleting the image deletes its "
                "profiles. Nothing was deleted.",
            )
        try:
            keys = await self.ctx.run(self.ctx.catalog.delete_objects, ids)
        except Missing as exc:
            raise error(
                Messages.NOT_FOUND,
                what="Object",
                name=", ".join(exc.keys),
                detail="No OS image, profile or file has this id. Nothing was deleted.",
            ) from None
        except HeldBy as exc:
            file_id, holders = next(iter(exc.holders.items()))
            raise error(Messages.FILE_HELD, file_id=file_id, profiles=", ".join(holders)) from None
        for key in keys:
            # The catalog no longer references the blob; if this fails the blob is an
            # orphan that the start-up sweep (and fsck) removes.
            try:
                await self.ctx.run(self.ctx.blobs.delete, key)
            except OSError:
                log.exception("could not remove blob %s", key)
        log.info("deleted %s", ", ".join(ids))
