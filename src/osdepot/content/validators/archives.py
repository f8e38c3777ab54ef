"""Checks of archives and packages: driver-update ISOs, gzip-compressed tars, zip
archives (Windows drivers and WinPE), RPM packages. Archives are listed, never
extracted; every structure read is bounded."""

from __future__ import annotations

import gzip
import posixpath
import re
import struct
import tarfile
import zipfile
import zlib
from typing import Any

from osdepot.content.iso9660 import IsoImage
from osdepot.content.source import ContentError, Source
from osdepot.content.validators.findings import Findings, sniff

MAX_ARCHIVE_MEMBERS = 1_000_000
ZIP_MAX_RATIO = 200  # uncompressed / compressed, for any member of more than 1 MiB
ZIP_MAX_TOTAL = 1 << 40  # 1 TiB uncompressed in all
_MAX_STRUCTURE = 256 << 20  # the most one read of an archive's structures may ask for


# -- disc images -----------------------------------------------------------------------


def open_disc(src: Source) -> IsoImage:
    """The image's descriptors; refuses what is no ISO 9660/UDF image or is truncated."""
    try:
        iso = IsoImage(src)
    except ContentError as exc:
        if exc.found == "not a disc image":
            raise ContentError(
                f"it has no ISO 9660 or UDF volume descriptors; it is {sniff(src)}",
                found=sniff(src),
            ) from None
        raise
    iso.check_length()
    return iso


def check_dud_iso(src: Source) -> Findings:
    iso = open_disc(src)
    if iso.lookup("rhdd3") is None and iso.lookup(".rhdd3") is None:
        raise ContentError(
            "it is a disc image but carries no rhdd3 file, so it is not a driver update disk (DUD)",
            found="a disc image without the driver update disk layout",
        )
    f = iso.open("rhdd3") or iso.open(".rhdd3")
    label = f.text(256).strip() if f is not None else ""
    return Findings("driver update disk (ISO)", {"label": label})


# -- archives --------------------------------------------------------------------------


def _unsafe_member(name: str) -> str | None:
    if name.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", name):
        return "an absolute path"
    if ".." in re.split(r"[\\/]", name):
        return "a '..' path component"
    if "\x00" in name:
        return "a NUL byte in its name"
    return None


def check_tar_gz(src: Source) -> Findings:
    head = src.read_upto(0, 2)
    if head != b"\x1f\x8b":
        raise ContentError(
            f"it does not start with the gzip signature; it is {sniff(src)}", found=sniff(src)
        )
    members = 0
    total = 0
    names: list[str] = []
    # gzip reads its input 8 KiB at a time: read ahead, or a store whose every read is
    # a request (S3: a ranged GET) would be asked 128 times per MiB
    with _SourceFile(src, ahead=1 << 20) as raw, gzip.GzipFile(fileobj=raw) as gz:
        try:
            with tarfile.open(fileobj=gz, mode="r|") as tar:
                for ti in tar:
                    members += 1
                    if members > MAX_ARCHIVE_MEMBERS:
                        raise ContentError(
                            f"it holds more than {MAX_ARCHIVE_MEMBERS} members",
                            found="an oversized archive",
                        )
                    why = _unsafe_member(ti.name)
                    if why:
                        raise ContentError(
                            f"its member {ti.name!r} has {why}", found="an unsafe tar archive"
                        )
                    if ti.ischr() or ti.isblk() or ti.isfifo():
                        raise ContentError(
                            f"its member {ti.name!r} is a device or FIFO",
                            found="an unsafe tar archive",
                        )
                    if ti.issym() or ti.islnk():
                        target = ti.linkname
                        base = posixpath.dirname(ti.name) if ti.issym() else ""
                        resolved = posixpath.normpath(posixpath.join(base, target))
                        if target.startswith("/") or resolved.split("/")[0] == "..":
                            raise ContentError(
                                f"its link {ti.name!r} points outside the archive ({target!r})",
                                found="an unsafe tar archive",
                            )
                    total += ti.size
                    if len(names) < 20:
                        names.append(ti.name)
            while gz.read(1 << 20):  # the rest: a truncated stream or bad CRC shows here
                pass
        except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
            raise ContentError(
                f"it is not a complete gzip-compressed tar archive ({exc})",
                found="a damaged or truncated .tar.gz",
            ) from None
    if members == 0:
        raise ContentError("the archive is empty", found="an empty tar archive")
    return Findings("gzip-compressed tar archive", {"members": members, "bytes": total})


class _SourceFile:
    """A read-only file object over a :class:`Source` (for gzip and zipfile); with
    ``ahead``, reads shorter than that are served from one read of ``ahead`` bytes."""

    def __init__(self, src: Source, ahead: int = 0) -> None:
        self.src = src
        self.pos = 0
        self.ahead = ahead
        self._buf = b""
        self._buf_at = 0

    def __enter__(self) -> _SourceFile:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.pos, 2: self.src.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.src.size - self.pos
        if n > _MAX_STRUCTURE:  # e.g. a zip central directory claiming gigabytes
            raise ContentError(f"one of its structures claims {n} bytes", found="a damaged archive")
        if 0 < n < self.ahead:
            i = self.pos - self._buf_at
            if i < 0 or i + n > len(self._buf):
                self._buf, self._buf_at, i = self.src.read_upto(self.pos, self.ahead), self.pos, 0
            data = self._buf[i : i + n]
        else:
            data = self.src.read_upto(self.pos, n)
        self.pos += len(data)
        return data

    def close(self) -> None:
        pass


def list_zip(src: Source) -> list[zipfile.ZipInfo]:
    head = src.read_upto(0, 4)
    if head[:2] != b"PK":
        raise ContentError(
            f"it does not start with the zip signature; it is {sniff(src)}", found=sniff(src)
        )
    try:
        zf = zipfile.ZipFile(_SourceFile(src))
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        # NotImplementedError: a member needs a newer zip version than Python reads
        raise ContentError(
            f"it has no valid zip central directory ({exc})",
            found="a damaged or truncated zip archive",
        ) from None
    if not infos:
        raise ContentError("the archive is empty", found="an empty zip archive")
    if len(infos) > MAX_ARCHIVE_MEMBERS:
        raise ContentError(
            f"it holds more than {MAX_ARCHIVE_MEMBERS} members", found="an oversized archive"
        )
    total = 0
    end = 0
    for info in sorted(infos, key=lambda i: i.header_offset):
        why = _unsafe_member(info.filename)
        if why:
            raise ContentError(
                f"its member {info.filename!r} has {why}", found="an unsafe zip archive"
            )
        if info.header_offset < end:
            raise ContentError(
                f"its member {info.filename!r} overlaps another member",
                found="a zip bomb (overlapping members)",
            )
        end = info.header_offset + 30 + len(info.filename.encode()) + info.compress_size
        if end > src.size:
            raise ContentError(
                f"its member {info.filename!r} lies beyond the end of the file",
                found="a truncated zip archive",
            )
        total += info.file_size
        if info.file_size > (1 << 20) and info.file_size > ZIP_MAX_RATIO * max(
            info.compress_size, 1
        ):
            raise ContentError(
                f"its member {info.filename!r} expands from {info.compress_size} to "
                f"{info.file_size} bytes (more than {ZIP_MAX_RATIO}:1)",
                found="a zip bomb",
            )
    if total > ZIP_MAX_TOTAL:
        raise ContentError(
            f"its members expand to {total} bytes, more than {ZIP_MAX_TOTAL}", found="a zip bomb"
        )
    return infos


def check_zip(src: Source, *, require: str | None = None) -> Findings:
    infos = list_zip(src)
    names = [i.filename for i in infos]
    details: dict[str, Any] = {"members": len(infos), "bytes": sum(i.file_size for i in infos)}
    if require == "inf":
        infs = [n for n in names if n.lower().endswith(".inf")]
        if not infs:
            raise ContentError(
                "the zip archive contains no .inf file, so it holds no Windows driver",
                found="a zip archive without drivers",
            )
        details["infFiles"] = len(infs)
        return Findings("Windows driver archive (zip)", details)
    if require == "winpe":
        wims = [n for n in names if n.lower().endswith(".wim")]
        if not wims:
            raise ContentError(
                "the zip archive contains no .wim image, so it holds no Windows PE boot "
                "environment",
                found="a zip archive without a boot image",
            )
        details["wimFiles"] = wims[:10]
        return Findings("Windows PE boot archive (zip)", details)
    return Findings("zip archive", details)


# -- RPM -------------------------------------------------------------------------------

_RPMTAG_NAME, _RPMTAG_VERSION, _RPMTAG_RELEASE, _RPMTAG_ARCH = 1000, 1001, 1002, 1022
_RPMTAG_PROVIDENAME, _RPMTAG_BASENAMES = 1047, 1117


#: The tags osdepot reads; the others (changelogs, file lists …) are never parsed.
_RPM_TAGS_READ = frozenset(
    {
        _RPMTAG_NAME,
        _RPMTAG_VERSION,
        _RPMTAG_RELEASE,
        _RPMTAG_ARCH,
        _RPMTAG_PROVIDENAME,
        _RPMTAG_BASENAMES,
    }
)


def _rpm_header(src: Source, offset: int, what: str) -> tuple[dict[int, Any], int]:
    h = src.read(offset, 16, what)
    if h[:3] != b"\x8e\xad\xe8":
        raise ContentError(f"its {what} has no header magic", found="a damaged RPM package")
    count, size = struct.unpack(">II", h[8:16])
    if count > 100_000 or size > 256 << 20:
        raise ContentError(f"its {what} is implausibly large", found="a damaged RPM package")
    index = src.read(offset + 16, count * 16, what)
    store = src.read(offset + 16 + count * 16, size, what)
    tags: dict[int, Any] = {}
    for i in range(count):
        tag, typ, off, cnt = struct.unpack_from(">IIII", index, i * 16)
        if off >= len(store) and cnt:
            raise ContentError(f"its {what} is damaged", found="a damaged RPM package")
        if tag not in _RPM_TAGS_READ or tag in tags:
            continue  # read each tag osdepot needs once, and nothing else
        if typ == 6:  # STRING
            end = store.find(b"\x00", off)
            if end < 0:
                raise ContentError(f"its {what} is damaged", found="a damaged RPM package")
            tags[tag] = store[off:end].decode("utf-8", "replace")
        elif typ in (8, 9):  # STRING_ARRAY, I18NSTRING
            # Every entry takes at least one byte of the store: a count beyond what is
            # left of it is damage, not a reason to loop (bounded by the store's size).
            if cnt > len(store) - off:
                raise ContentError(
                    f"its {what} declares {cnt} strings where it has room for {len(store) - off}",
                    found="a damaged RPM package",
                )
            out, pos = [], off
            for n in range(cnt):
                end = store.find(b"\x00", pos)
                if end < 0:
                    raise ContentError(f"its {what} is damaged", found="a damaged RPM package")
                out.append(store[pos:end].decode("utf-8", "replace"))
                pos = end + 1
                if n % 65536 == 65535:
                    src.spend()
            tags[tag] = out
    return tags, offset + 16 + count * 16 + size


def check_rpm(src: Source, *, kernel_module: bool = False) -> Findings:
    lead = src.read_upto(0, 96)
    if len(lead) < 96 or lead[:4] != b"\xed\xab\xee\xdb":
        raise ContentError(f"it has no RPM lead; it is {sniff(src)}", found=sniff(src))
    try:
        _sig, end = _rpm_header(src, 96, "signature header")
        end = (end + 7) & ~7
        tags, _ = _rpm_header(src, end, "header")
    except ValueError:
        raise ContentError("its header is damaged", found="a damaged RPM package") from None
    name = str(tags.get(_RPMTAG_NAME, ""))
    details = {
        "name": name,
        "version": tags.get(_RPMTAG_VERSION),
        "release": tags.get(_RPMTAG_RELEASE),
        "arch": tags.get(_RPMTAG_ARCH),
    }
    if not name:
        raise ContentError("its header names no package", found="a damaged RPM package")
    if kernel_module:
        files = tags.get(_RPMTAG_BASENAMES) or []
        provides = tags.get(_RPMTAG_PROVIDENAME) or []
        modules = [f for f in files if re.search(r"\.ko(\.(xz|gz|zst|bz2))?$", f)]
        kmod = name.startswith("kmod-") or any(str(p).startswith("kmod") for p in provides)
        if not modules and not kmod:
            raise ContentError(
                f"the package {name} contains no kernel module (.ko) and is no kmod package",
                found=f"the RPM package {name}, not a kernel-module package",
            )
        details["modules"] = len(modules)
    return Findings("kernel-module RPM package" if kernel_module else "RPM package", details)
