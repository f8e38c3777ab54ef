"""What the repository holds: listing and deleting."""

from __future__ import annotations

import gzip
import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from osdepot.domain.deploy import ACTIVE
from osdepot.domain.jobs import JobStatus
from osdepot.domain.records import OsImage, StoredFile
from osdepot.errors import HeldBy, InUse, Missing, error
from osdepot.messages import Messages
from osdepot.services.context import Context
from osdepot.services.orphans import remove_blob

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


@dataclass
class RenderedListing:
    """``GET /osImages``'s body for one generation of the repository, and the same
    gzip-compressed once a client that accepts it asked (about a tenth of the size: a
    listing of 10,000 entries is some 3 MB, which copying alone makes dear)."""

    generation: int
    body: bytes
    #: a digest of ``body``: the entity tag clients revalidate their copy with
    tag: str = ""
    gzipped: bytes | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def compressed(self) -> bytes:
        with self.lock:
            if self.gzipped is None:
                self.gzipped = gzip.compress(self.body, compresslevel=6, mtime=0)
            return self.gzipped


#: one rendering of the listing at a time per process: clients that miss the cache
#: together wait for the one rendering instead of each making its own
_RENDERING = threading.Lock()


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

    async def rendered_listing(
        self, render: Callable[[Listing], bytes], compressed: bool = False
    ) -> bytes:
        """The listing as ``render`` makes it (gzip-compressed if ``compressed``), kept
        until the repository's generation changes: a listing of 10,000 entries then
        costs one small query instead of a full read and rendering. One cache per
        process (in the context); rendering and compressing run on a thread."""
        return await self.encoded(await self.current_listing(render), compressed)

    async def current_listing(self, render: Callable[[Listing], bytes]) -> RenderedListing:
        """The listing of the repository's current generation (see rendered_listing)."""
        ctx = self.ctx
        generation = await ctx.read(lambda c: c.generation())
        cached = ctx.listing_cache
        if cached is None or cached.generation != generation:
            cached = await ctx.run(self._render, render, generation)
        return cached

    async def encoded(self, listing: RenderedListing, compressed: bool) -> bytes:
        """A rendered listing's body, gzip-compressed (once) if ``compressed``."""
        if not compressed:
            return listing.body
        if listing.gzipped is not None:
            return listing.gzipped
        return await self.ctx.run(listing.compressed)

    def _render(self, render: Callable[[Listing], bytes], generation: int) -> RenderedListing:
        with _RENDERING:
            cached = self.ctx.listing_cache
            if cached is not None and cached.generation == generation:
                return cached  # rendered by the request this one waited for
            listing = Listing(self.ctx.catalog.list_images(), self.ctx.catalog.list_files())
            body = render(listing)
            cached = RenderedListing(generation, body, hashlib.sha256(body).hexdigest()[:32])
            self.ctx.listing_cache = cached
            return cached

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

    async def _not_deploying(self, ids: list[str]) -> None:
        """Refuse to delete a profile, an OS image or its medium while a deployment
        installs from it (its host fetches the medium through a link to it)."""
        wanted = set(ids)
        hosts = await self.ctx.run(self.ctx.catalog.list_hosts)
        for host in hosts:
            if host.deploy_status not in ACTIVE or not host.deploy_profile:
                continue
            jobs = await self.ctx.run(self.ctx.catalog.list_jobs, [host.deploy_job or 0])
            if not jobs or jobs[0].status is not JobStatus.RUNNING:
                continue  # left behind by a node that stopped
            uses = {host.deploy_profile}
            for p in await self.ctx.run(self.ctx.catalog.find_profiles, [host.deploy_profile]):
                uses.add(p.image_id)
                image = await self.ctx.run(self.ctx.catalog.get_image, p.image_id)
                if image is not None:
                    uses.add(image.file_id)
            if uses & wanted:
                raise error(
                    Messages.IN_USE,
                    what="Object",
                    name=", ".join(sorted(uses & wanted)),
                    detail=f"Host {host.uuid} is being deployed from it (job "
                    f"{host.deploy_job}). Nothing was deleted.",
                )

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
        await self._not_deploying(ids)
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
        except InUse as exc:  # a deployment began after the check above
            raise error(
                Messages.IN_USE,
                what="Object",
                name=", ".join(ids),
                detail=f"Deployment job {exc.job_id} installs from it. Nothing was deleted.",
            ) from None
        for key in keys:  # the catalog names them no more: what fails, the sweep removes
            await remove_blob(self.ctx, key)
        log.info("deleted %s", ", ".join(ids))
