"""Getting files out: a stored file, or a file inside a stored ISO's installation tree,
opened for ranged reads (served by web/downloads.py).

The tree of an OS image's ISO is indexed once (content/media/tree.py) — at import,
or on first use for media imported before — and the index kept in the catalog, so a
file inside the ISO is found with one catalog read and read straight out of the blob.
"""

from __future__ import annotations

import logging
import posixpath
from dataclasses import dataclass

from osdepot.content.media.tree import ExtentReader, index_tree
from osdepot.domain.images import ImageType
from osdepot.domain.records import StoredFile, TreeEntry
from osdepot.errors import ContentError, Missing, error
from osdepot.messages import Messages
from osdepot.ports import RandomAccess
from osdepot.services.context import Context

log = logging.getLogger("osdepot.downloads")

#: the most bytes of a tree path a request may name
MAX_TREE_PATH = 4096


@dataclass(frozen=True)
class Opened:
    """Something to send: its bytes (ranged reads), name, size and validators."""

    reader: RandomAccess
    name: str
    size: int
    #: the SHA-256 of the bytes when known (a stored file), else "" (a file in a tree:
    #: its ETag derives from the ISO's SHA-256 and its place in it)
    sha256: str
    etag: str
    modified: float


@dataclass(frozen=True)
class Listing:
    """A directory of an installation tree."""

    path: str
    entries: list[TreeEntry]


def clean_tree_path(raw: str) -> str:
    """A path inside a tree, normalised; 404 for anything that could leave it."""
    if len(raw) > MAX_TREE_PATH or "\x00" in raw or "\\" in raw:
        raise _no_such_path(raw[:200])
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise _no_such_path(raw[:200])
    return posixpath.join(*parts) if parts else ""


def _no_such_path(path: str) -> Exception:
    return error(
        Messages.NOT_FOUND,
        what="Path",
        name=path or "/",
        detail="The installation tree has no such file or folder.",
    )


def deleted_meanwhile(f: StoredFile) -> Exception:
    """The 404 of a file that a deletion removed after the request found it."""
    return deleted_just_now(f.id)


def deleted_just_now(name: str) -> Exception:
    """:func:`deleted_meanwhile` of a file known by ``name`` (a stored file's id, or a
    path in an installation tree)."""
    return error(
        Messages.NOT_FOUND,
        what="File",
        name=name[:200],
        detail="It was deleted just now (GET /osImages lists the repository).",
    )


async def open_blob(ctx: Context, f: StoredFile) -> RandomAccess:
    """The bytes of ``f`` for ranged reads; the 404 of :func:`deleted_meanwhile` when
    its blob is gone (removed by a deletion after the catalog read that found it)."""
    try:
        return await ctx.run(ctx.blobs.reader, f.blob_key)
    except FileNotFoundError:
        raise deleted_meanwhile(f) from None


class Downloads:
    """Stored files and the trees inside stored ISOs, opened for reading."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def stored_file(self, file_id: str) -> StoredFile:
        found = await self.ctx.read(lambda c: c.get_file(file_id))
        if found is None:
            raise error(
                Messages.NOT_FOUND,
                what="File",
                name=file_id[:200],
                detail="No stored file has this id (GET /osImages lists them).",
            )
        return found

    async def image_file(self, image_id: str) -> StoredFile:
        """The ISO file of an OS image."""
        image = await self.ctx.run(self.ctx.catalog.get_image, image_id)
        if image is None:
            raise error(
                Messages.NOT_FOUND,
                what="OS image",
                name=image_id[:200],
                detail="No OS image has this id (GET /osImages lists them).",
            )
        return await self.stored_file(image.file_id)

    async def open_file(self, f: StoredFile) -> Opened:
        reader = await open_blob(self.ctx, f)
        return Opened(reader, f.name, f.size, f.sha256, f'"{f.sha256}"', f.imported_at)

    async def tree(self, f: StoredFile, path: str) -> Opened | Listing:
        """A file or a directory of the installation tree inside ``f`` (an OS medium)."""
        if f.image_type is not ImageType.OS:
            raise error(
                Messages.NOT_FOUND,
                what="Installation tree",
                name=f.id,
                detail="Only OS images have an installation tree; download the file itself.",
            )
        path = clean_tree_path(path)
        await self._ensure_index(f)
        entry = await self.ctx.read(lambda c: c.tree_entry(f.id, path))
        if entry is None:
            raise _no_such_path(path)
        if entry.is_dir:
            children = await self.ctx.run(self.ctx.catalog.tree_children, f.id, path)
            return Listing(path, children)
        image = await open_blob(self.ctx, f)
        # A file in the tree changes only with the ISO: its ETag is the ISO's SHA-256
        # and the file's extents, strong (the bytes are fixed by both).
        where = ",".join(f"{o}+{n}" for o, n in entry.extents) or "inline"
        etag = f'"{f.sha256[:32]}-{_short_hash(where)}"'
        return Opened(ExtentReader(image, entry), entry.name, entry.size, "", etag, f.imported_at)

    async def _ensure_index(self, f: StoredFile) -> None:
        if await self.ctx.read(lambda c: c.has_tree(f.id)):
            return
        reader = await open_blob(self.ctx, f)
        try:
            entries = await self.ctx.run(index_tree, reader)
        except FileNotFoundError:  # an object deleted since it was opened (S3)
            raise deleted_meanwhile(f) from None
        except ContentError as exc:
            raise error(
                Messages.NOT_FOUND,
                what="Installation tree",
                name=f.id,
                detail=f"The tree of this medium cannot be served: {exc}. The file itself "
                "can be downloaded.",
            ) from None
        try:
            await self.ctx.run(self.ctx.catalog.add_tree, f.id, entries)
        except Missing:
            raise deleted_meanwhile(f) from None
        log.info("indexed the installation tree of %s: %d entries", f.id, len(entries))


def _short_hash(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:16]
