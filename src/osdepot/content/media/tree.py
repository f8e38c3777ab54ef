"""The installation tree inside a stored ISO: an index of its files, made once, from
which any file is read straight out of the ISO by ranged reads — no extraction, no
loop mount.

:func:`index_tree` walks the image's directory tree — UDF when the image has it
(Windows media, whose large files live only there), ISO 9660 otherwise, with the
Rock Ridge or Joliet names the files really have — and records every entry's path,
size and extents (where its bytes lie in the image; several for multi-extent files).
A UDF file small enough to be embedded in its file entry is kept in the index
itself. :class:`ExtentReader` then reads a file of the index from the image as a
:class:`~osdepot.ports.RandomAccess`.

The walk is bounded: at most :data:`MAX_ENTRIES` entries, :data:`MAX_DEPTH` levels,
each directory once (an image whose directories loop does not loop the walk).
"""

from __future__ import annotations

from osdepot.content.iso9660 import IsoImage
from osdepot.content.source import ContentError, Source
from osdepot.content.udf import UdfVolume
from osdepot.content.validators import open_disc
from osdepot.domain.records import TreeEntry
from osdepot.ports import FileSpan, RandomAccess

MAX_ENTRIES = 200_000  # a full RHEL or SLES DVD has some 10,000–30,000
MAX_DEPTH = 64


class _Walk:
    def __init__(self) -> None:
        self.entries: list[TreeEntry] = [TreeEntry("", True)]
        self.seen: set[object] = set()

    def add(self, entry: TreeEntry) -> None:
        if len(self.entries) >= MAX_ENTRIES:
            raise ContentError(
                f"its directory tree holds more than {MAX_ENTRIES} entries",
                found="an oversized directory tree",
            )
        self.entries.append(entry)


def _walk_iso(iso: IsoImage, walk: _Walk, path: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        return
    for e in iso.listdir(path):
        if e.name in ("", ".", "..") or "/" in e.name:
            continue
        child = f"{path}/{e.name}" if path else e.name
        if e.is_dir:
            key = ("iso", e.extents[0].offset if e.extents else -1)
            if key in walk.seen:
                continue
            walk.seen.add(key)
            walk.add(TreeEntry(child, True))
            _walk_iso(iso, walk, child, depth + 1)
        else:
            extents = tuple((x.offset, x.length) for x in e.extents)
            walk.add(TreeEntry(child, False, e.size, extents))


def _walk_udf(udf: UdfVolume, walk: _Walk, path: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        return
    for e in udf.children(path):
        if e.name in ("", ".", "..") or "/" in e.name:
            continue
        child = f"{path}/{e.name}" if path else e.name
        if e.is_dir:
            key = ("udf", e.lbn, e.part)
            if key in walk.seen:
                continue
            walk.seen.add(key)
            walk.add(TreeEntry(child, True))
            _walk_udf(udf, walk, child, depth + 1)
        else:
            size, extents, inline = udf.file_data(e)
            walk.add(TreeEntry(child, False, size, extents, inline))


def index_tree(data: RandomAccess) -> list[TreeEntry]:
    """Every entry of the image's tree (``data`` is closed afterwards)."""
    with Source(data) as src:
        iso = open_disc(src)
        walk = _Walk()
        if iso.udf:
            _walk_udf(UdfVolume(src), walk, "", 0)
        if len(walk.entries) == 1 and iso.header is not None:
            _walk_iso(iso, walk, "", 0)
        return walk.entries


class ExtentReader:
    """A file of the tree as a :class:`~osdepot.ports.RandomAccess`: reads map onto
    its extents in the image (or its inline bytes). Closing it closes the image's
    reader."""

    def __init__(self, image: RandomAccess, entry: TreeEntry) -> None:
        self._image = image
        self._entry = entry
        self.size = entry.size

    def span(self, offset: int, n: int) -> tuple[int, int] | None:
        """Where bytes ``offset`` … ``offset+n-1`` lie in a local image, when one
        extent holds them all (FileSpan); None otherwise."""
        if self._entry.inline is not None or not isinstance(self._image, FileSpan):
            return None
        if offset < 0 or n < 0 or offset + n > self.size:
            return None
        pos = 0
        for start, length in self._entry.extents:
            if pos <= offset and offset + n <= pos + length:
                return self._image.span(start + offset - pos, n)
            pos += length
        return None

    def read_at(self, offset: int, n: int) -> bytes:
        n = max(0, min(n, self.size - offset))
        if n == 0:
            return b""
        if self._entry.inline is not None:
            return self._entry.inline[offset : offset + n]
        out = bytearray()
        pos = 0
        for start, length in self._entry.extents:
            if n <= 0:
                break
            end = pos + length
            if offset < end:
                skip = max(offset - pos, 0)
                take = min(length - skip, n)
                chunk = self._image.read_at(start + skip, take)
                out += chunk
                if len(chunk) < take:
                    break  # the image ends early; the reader returns what there is
                offset += take
                n -= take
            pos = end
        return bytes(out)

    def close(self) -> None:
        self._image.close()
