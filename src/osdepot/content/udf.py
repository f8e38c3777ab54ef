"""A lazy reader of UDF volumes (ECMA-167 / OSTA UDF), enough to find files on
Windows installation media, which are ISO 9660 + UDF "bridge" discs whose ISO 9660
side holds only a README.

Supported: UDF 1.02–2.60 with type-1 partition maps (what Windows media and common
mastering tools write), File Entries and Extended File Entries, short, long and
embedded allocation descriptors. Metadata partitions (type-2 maps, UDF 2.50+ with a
metadata file) are not read; such a volume is reported as unsupported.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from osdepot.content.source import ContentError, Extent, FileData, Source

_MAX_DIR_BYTES = 8 << 20
_MAX_VDS = 64


def _damaged(detail: str) -> ContentError:
    return ContentError(f"its UDF volume is damaged: {detail}", found="a damaged UDF image")


@dataclass
class UdfEntry:
    name: str
    is_dir: bool
    lbn: int
    part: int


class UdfVolume:
    def __init__(self, src: Source, block: int = 2048) -> None:
        self.src = src
        self.block = block
        self.partitions: dict[int, int] = {}  # partition number → start block
        self.maps: list[int] = []  # partition reference → partition number
        self._root: UdfEntry | None = None
        self._dirs: dict[tuple[int, int], list[UdfEntry]] = {}
        self._load()

    # -- descriptors -------------------------------------------------------------------

    def _tag(self, data: bytes, want: int | None = None) -> int:
        if len(data) < 16:
            raise _damaged("a descriptor is cut short")
        ident = struct.unpack_from("<H", data, 0)[0]
        checksum = (sum(data[0:4]) + sum(data[5:16])) & 0xFF
        if checksum != data[4]:
            raise _damaged(f"descriptor tag {ident} has a wrong checksum")
        if want is not None and ident != want:
            raise _damaged(f"expected descriptor {want}, found {ident}")
        return int(ident)

    def _load(self) -> None:
        avdp = self.src.read(256 * self.block, 512, "UDF anchor")
        self._tag(avdp, 2)
        vds_len, vds_loc = struct.unpack_from("<II", avdp, 16)
        count = min(vds_len // self.block, _MAX_VDS)
        lvd = None
        for i in range(count):
            d = self.src.read((vds_loc + i) * self.block, 512, "UDF volume descriptors")
            ident = self._tag(d)
            if ident == 5:
                number = struct.unpack_from("<H", d, 22)[0]
                start = struct.unpack_from("<I", d, 188)[0]
                self.partitions[number] = start
            elif ident == 6:
                lvd = self.src.read((vds_loc + i) * self.block, self.block, "UDF volume")
            elif ident == 8:
                break
        if lvd is None or not self.partitions:
            raise _damaged("no logical volume or partition descriptor")
        lb_size = struct.unpack_from("<I", lvd, 212)[0]
        if lb_size != self.block:
            raise _damaged(f"logical block size {lb_size} is not supported")
        _fsd_len, fsd_lbn, fsd_part = struct.unpack_from("<IIH", lvd, 248)
        n_maps = struct.unpack_from("<I", lvd, 268)[0]
        pos = 440
        for _ in range(min(n_maps, 8)):
            kind, length = lvd[pos], lvd[pos + 1]
            if kind == 1:
                self.maps.append(struct.unpack_from("<H", lvd, pos + 4)[0])
            else:
                raise ContentError(
                    "its UDF volume uses a metadata or virtual partition, which osdepot "
                    "does not read",
                    found="a UDF image of an unsupported kind",
                )
            if length < 6:
                raise _damaged("a partition map is damaged")
            pos += length
        fsd = self._block(fsd_lbn, fsd_part, "UDF file set")
        self._tag(fsd, 256)
        _len, lbn, part = struct.unpack_from("<IIH", fsd, 400)
        self._root = UdfEntry("", True, lbn, part)

    def _addr(self, lbn: int, part: int) -> int:
        if part >= len(self.maps) or self.maps[part] not in self.partitions:
            raise _damaged(f"partition reference {part} is unknown")
        return (self.partitions[self.maps[part]] + lbn) * self.block

    def _block(self, lbn: int, part: int, what: str) -> bytes:
        return self.src.read(self._addr(lbn, part), self.block, what)

    # -- files -------------------------------------------------------------------------

    def _file_entry(self, entry: UdfEntry) -> tuple[int, list[Extent], bytes | None, bool]:
        """(size, extents, embedded data, is_dir) of the file an ICB points to."""
        fe = self._block(entry.lbn, entry.part, "UDF file entry")
        ident = self._tag(fe)
        if ident == 261:
            size = struct.unpack_from("<Q", fe, 56)[0]
            l_ea, l_ad = struct.unpack_from("<II", fe, 168)
            base = 176
        elif ident == 266:
            size = struct.unpack_from("<Q", fe, 56)[0]
            l_ea, l_ad = struct.unpack_from("<II", fe, 208)
            base = 216
        else:
            raise _damaged(f"descriptor {ident} where a file entry belongs")
        file_type = fe[16 + 11]
        ad_type = struct.unpack_from("<H", fe, 16 + 18)[0] & 7
        start = base + l_ea
        if start + l_ad > len(fe):
            raise _damaged("allocation descriptors overflow their block")
        ads = fe[start : start + l_ad]
        if ad_type == 3:
            return size, [], ads[:size], file_type == 4
        extents: list[Extent] = []
        step = 8 if ad_type == 0 else 16
        if ad_type not in (0, 1):
            raise _damaged("extended allocation descriptors are not supported")
        for pos in range(0, len(ads) - step + 1, step):
            raw_len, lbn = struct.unpack_from("<II", ads, pos)
            kind, length = raw_len >> 30, raw_len & 0x3FFFFFFF
            part = entry.part if ad_type == 0 else struct.unpack_from("<H", ads, pos + 8)[0]
            if length == 0:
                break
            if kind == 3:
                raise ContentError(
                    "its UDF volume continues allocation descriptors elsewhere, which "
                    "osdepot does not read",
                    found="a UDF image of an unsupported kind",
                )
            if kind == 0:
                extents.append(Extent(self._addr(lbn, part), length))
        return size, extents, None, file_type == 4

    def _entries(self, d: UdfEntry) -> list[UdfEntry]:
        key = (d.lbn, d.part)
        if key in self._dirs:
            return self._dirs[key]
        size, extents, embedded, _ = self._file_entry(d)
        if size > _MAX_DIR_BYTES:
            raise _damaged(f"a directory claims {size} bytes")
        data = embedded if embedded is not None else FileData(self.src, extents, size, "").read()
        out: list[UdfEntry] = []
        pos = 0
        while pos + 38 <= len(data):
            self._tag(data[pos : pos + 16], 257)
            chars, l_fi = data[pos + 18], data[pos + 19]
            _len, lbn, part = struct.unpack_from("<IIH", data, pos + 20)
            l_iu = struct.unpack_from("<H", data, pos + 36)[0]
            raw = data[pos + 38 + l_iu : pos + 38 + l_iu + l_fi]
            pos += (38 + l_iu + l_fi + 3) & ~3
            if chars & 0x0C:  # deleted or parent
                continue
            out.append(UdfEntry(_dstring(raw), bool(chars & 2), lbn, part))
        self._dirs[key] = out
        return out

    def lookup(self, path: str) -> UdfEntry | None:
        cur = self._root
        assert cur is not None
        for part in [p for p in path.strip("/").split("/") if p]:
            if not cur.is_dir:
                return None
            want = part.lower()
            cur = next((e for e in self._entries(cur) if e.name.lower() == want), None)
            if cur is None:
                return None
        return cur

    def children(self, path: str) -> list[UdfEntry]:
        """The entries of a directory (content/media/tree.py walks the tree with it)."""
        return self.listdir(path)

    def file_data(self, entry: UdfEntry) -> tuple[int, tuple[tuple[int, int], ...], bytes | None]:
        """(size, extents as (offset, length), embedded bytes) of a file entry."""
        size, extents, embedded, _ = self._file_entry(entry)
        if embedded is not None:
            return len(embedded), (), embedded
        for ext in extents:
            if ext.offset + ext.length > self.src.size:
                raise ContentError(
                    f"the image is truncated: {entry.name} lies beyond its end",
                    found="a truncated disc image",
                )
        return size, tuple((e.offset, e.length) for e in extents), None

    def listdir(self, path: str) -> list[UdfEntry]:
        d = self.lookup(path)
        return self._entries(d) if d is not None and d.is_dir else []

    def open(self, path: str) -> FileData | None:
        e = self.lookup(path)
        if e is None or e.is_dir:
            return None
        size, extents, embedded, _ = self._file_entry(e)
        if embedded is not None:
            return _Embedded(self.src, embedded, path)
        for ext in extents:
            if ext.offset + ext.length > self.src.size:
                raise ContentError(
                    f"the image is truncated: {path} lies beyond its end",
                    found="a truncated disc image",
                )
        return FileData(self.src, extents, size, path)


class _Embedded(FileData):
    def __init__(self, src: Source, data: bytes, name: str) -> None:
        super().__init__(src, [], len(data), name)
        self._data = data

    def read(self, offset: int = 0, n: int | None = None) -> bytes:
        end = len(self._data) if n is None else offset + n
        return self._data[offset:end]


def _dstring(raw: bytes) -> str:
    if not raw:
        return ""
    if raw[0] == 8:
        return raw[1:].decode("latin-1")
    if raw[0] == 16:
        return raw[1:].decode("utf-16-be", "replace")
    return raw.decode("latin-1", "replace")
