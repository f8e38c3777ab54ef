"""A lazy reader of ISO 9660 images (with Joliet and Rock Ridge names) and of the
volume recognition sequence that announces UDF.

Nothing is extracted and nothing is mounted: the volume descriptors are read, and
directories are read one at a time, only along the paths that are looked up.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from osdepot.content.source import ContentError, Extent, FileData, Source

SECTOR = 2048
_MAX_DIR_BYTES = 8 << 20  # a directory larger than this is not read
_MAX_DESCRIPTORS = 64
_UDF_IDS = {b"BEA01", b"NSR02", b"NSR03", b"TEA01", b"BOOT2", b"CDW02"}


def _text(raw: bytes) -> str:
    return raw.decode("latin-1").rstrip(" \x00")


@dataclass(frozen=True)
class VolumeHeader:
    """The primary volume descriptor's identification fields."""

    system_id: str
    volume_id: str
    volume_set_id: str
    publisher_id: str
    preparer_id: str
    application_id: str
    block_size: int
    volume_blocks: int

    @property
    def volume_bytes(self) -> int:
        return self.block_size * self.volume_blocks


@dataclass
class Entry:
    name: str
    is_dir: bool
    extents: list[Extent] = field(default_factory=list)
    size: int = 0
    more: bool = False  # ISO 9660 multi-extent: the next record continues this file
    #: where in the image the directory record (the first, for a multi-extent file) is
    record: int = -1


@dataclass
class _Tree:
    root: Entry
    joliet: bool


class IsoImage:
    """The descriptors of an ISO 9660 image and lazy access to its files."""

    def __init__(self, src: Source) -> None:
        self.src = src
        self.header: VolumeHeader | None = None
        self.el_torito = False
        self.udf = False
        self._trees: list[_Tree] = []
        self._rock_ridge: bool | None = None
        self._dirs: dict[tuple[int, int], list[Entry]] = {}
        self._read_descriptors()

    # -- descriptors -------------------------------------------------------------------

    def _read_descriptors(self) -> None:
        if self.src.size < 17 * SECTOR:
            raise ContentError(
                f"it is {self.src.size} bytes long, too short for an ISO 9660 or UDF image",
                found="a file too small to be a disc image",
            )
        primary = None
        joliet = None
        sector = 16
        iso_seen = False
        for _ in range(_MAX_DESCRIPTORS):
            if (sector + 1) * SECTOR > self.src.size:
                break
            d = self.src.read(sector * SECTOR, SECTOR, "volume descriptors")
            ident = d[1:6]
            if ident == b"CD001":
                iso_seen = True
                kind = d[0]
                if kind == 0 and d[7:30].startswith(b"EL TORITO SPECIFICATION"):
                    self.el_torito = True
                elif kind == 1 and primary is None:
                    primary = d
                elif kind == 2 and d[88:91] in (b"%/@", b"%/C", b"%/E"):
                    joliet = d
                elif kind == 255:
                    sector += 1
                    continue
            elif ident in _UDF_IDS:
                if ident in (b"NSR02", b"NSR03"):
                    self.udf = True
            else:
                break
            sector += 1
        if primary is None:
            if self.udf:
                return
            what = "a file with ISO 9660 descriptors but no primary volume descriptor"
            raise ContentError(
                "it has no ISO 9660 primary volume descriptor and no UDF volume",
                found=what if iso_seen else "not a disc image",
            )
        block = struct.unpack_from("<H", primary, 128)[0]
        blocks = struct.unpack_from("<I", primary, 80)[0]
        if block not in (512, 1024, 2048):
            raise ContentError(
                f"its primary volume descriptor gives a block size of {block}",
                found="a damaged ISO 9660 image",
            )
        self.header = VolumeHeader(
            system_id=_text(primary[8:40]),
            volume_id=_text(primary[40:72]),
            volume_set_id=_text(primary[190:318]),
            publisher_id=_text(primary[318:446]),
            preparer_id=_text(primary[446:574]),
            application_id=_text(primary[574:702]),
            block_size=block,
            volume_blocks=blocks,
        )
        if joliet is not None:
            self._trees.append(_Tree(self._root(joliet), joliet=True))
        self._trees.append(_Tree(self._root(primary), joliet=False))

    def _root(self, descriptor: bytes) -> Entry:
        rec = descriptor[156:190]
        lba, length = struct.unpack_from("<I", rec, 2)[0], struct.unpack_from("<I", rec, 10)[0]
        return Entry("", True, [Extent(lba * SECTOR, length)], length)

    def check_length(self) -> None:
        """Refuse an image shorter than the volume size its descriptor declares."""
        if self.header and self.header.volume_bytes > self.src.size:
            raise ContentError(
                f"the image is truncated: its volume descriptor declares "
                f"{self.header.volume_bytes} bytes but the file has {self.src.size}",
                found="a truncated disc image",
            )

    # -- directories -------------------------------------------------------------------

    def _entries(self, directory: Entry, joliet: bool) -> list[Entry]:
        ext = directory.extents[0]
        key = (ext.offset, int(joliet))
        if key in self._dirs:
            return self._dirs[key]
        if ext.length > _MAX_DIR_BYTES:
            raise ContentError(
                f"a directory claims {ext.length} bytes", found="a damaged ISO 9660 image"
            )
        data = self.src.read(ext.offset, ext.length, "directory")
        entries: list[Entry] = []
        pos = 0
        while pos < len(data):
            n = data[pos]
            if n == 0:
                pos = (pos // SECTOR + 1) * SECTOR
                continue
            if n < 34 or pos + n > len(data):
                raise ContentError(
                    "a directory record is damaged", found="a damaged ISO 9660 image"
                )
            rec = data[pos : pos + n]
            at = ext.offset + pos
            pos += n
            name_len = rec[32]
            raw = rec[33 : 33 + name_len]
            if raw in (b"\x00", b"\x01"):
                if raw == b"\x00" and not joliet and self._rock_ridge is None:
                    self._rock_ridge = b"SP\x07\x01\xbe\xef" in rec[34:]
                continue
            flags = rec[25]
            lba = struct.unpack_from("<I", rec, 2)[0]
            size = struct.unpack_from("<I", rec, 10)[0]
            name = self._name(rec, raw, joliet)
            extent = Extent(lba * SECTOR, size)
            if entries and entries[-1].more and entries[-1].name == name:
                prev = entries[-1]
                prev.extents.append(extent)
                prev.size += size
                prev.more = bool(flags & 0x80)
                continue
            entries.append(
                Entry(name, bool(flags & 2), [extent], size, bool(flags & 0x80), record=at)
            )
        self._dirs[key] = entries
        return entries

    def _name(self, rec: bytes, raw: bytes, joliet: bool) -> str:
        if joliet:
            name = raw.decode("utf-16-be", "replace")
        else:
            name = raw.decode("latin-1")
            rr = self._rr_name(rec, len(raw))
            if rr is not None:
                return rr
        if ";" in name:
            name = name[: name.index(";")]
        if name.endswith(".") and not joliet:
            name = name[:-1]
        return name

    def _rr_name(self, rec: bytes, name_len: int) -> str | None:
        pos = 33 + name_len + (1 - name_len % 2)
        out = b""
        found = False
        while pos + 4 <= len(rec):
            sig, length = rec[pos : pos + 2], rec[pos + 2]
            if length < 4 or pos + length > len(rec):
                break
            if sig == b"NM":
                found = True
                out += rec[pos + 5 : pos + length]
            elif sig == b"ST":
                break
            pos += length
        return out.decode("utf-8", "replace") if found and out else None

    def listdir(self, path: str) -> list[Entry]:
        for tree in self._trees:
            d = self._walk(tree, path)
            if d is not None and d.is_dir:
                return self._entries(d, tree.joliet)
        return []

    def lookup(self, path: str) -> Entry | None:
        for tree in self._trees:
            e = self._walk(tree, path)
            if e is not None:
                return e
        return None

    def every_record(self, path: str) -> list[Entry]:
        """``path`` as each directory tree names it (Joliet's, then ISO 9660's with
        its Rock Ridge names): the records a change of the file's length must change."""
        return [e for tree in self._trees if (e := self._walk(tree, path)) is not None]

    def _walk(self, tree: _Tree, path: str) -> Entry | None:
        cur = tree.root
        for part in [p for p in path.strip("/").split("/") if p]:
            if not cur.is_dir:
                return None
            want = part.lower()
            alt = want.lstrip(".").replace(".", "_")
            nxt = None
            for e in self._entries(cur, tree.joliet):
                low = e.name.lower()
                if low == want:
                    nxt = e
                    break
                if not tree.joliet and nxt is None and low.replace(".", "_") == alt:
                    nxt = e  # ISO 9660 level-1 spelling of a dot file (TREEINFO for .treeinfo)
            if nxt is None:
                return None
            cur = nxt
        return cur

    def open(self, path: str) -> FileData | None:
        e = self.lookup(path)
        if e is None or e.is_dir:
            return None
        for ext in e.extents:
            if ext.offset + ext.length > self.src.size:
                raise ContentError(
                    f"the image is truncated: {path} lies beyond its end",
                    found="a truncated disc image",
                )
        return FileData(self.src, e.extents, e.size, path)
