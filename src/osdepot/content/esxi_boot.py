"""The ESXi installer reads a kickstart only when a ``ks=`` boot option says where it
is, and the boot options of an ISO are the ``kernelopt=`` line of its ``boot.cfg``
files (``/boot.cfg`` for BIOS, ``/efi/boot/boot.cfg`` for UEFI: VMware's "Create an
installer ISO image with a custom installation script" edits both). osdepot does not
change a stored ISO: an ESXi deployment serves a *view* of it, in which those files
name the kickstart.

The view differs from the ISO in a handful of bytes: each ``boot.cfg``'s data,
rewritten inside the sectors it already has, and the length field (both byte orders)
of every directory record that names it — ISO 9660's (with its Rock Ridge names) and
Joliet's. Nothing moves, so every other byte, and every other file, is the ISO's. A
medium whose ``boot.cfg`` has no room left in its last sector for the option, or one
with a UDF file system (which would still give the old length), is refused with a
message."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from osdepot.content.iso9660 import SECTOR, IsoImage
from osdepot.content.source import ContentError, Source
from osdepot.ports import FileSpan, RandomAccess

#: the boot option ESXi's installer finds its kickstart with: the root of a CD (each
#: CD/DVD is searched; the configuration volume holds it; uppercase, as VMware asks)
KICKSTART_OPTION = "ks=cdrom:/KS.CFG"
#: the loader configurations of an ESXi medium: BIOS (mboot.c32), UEFI (mboot.efi)
BOOT_FILES = ("boot.cfg", "efi/boot/boot.cfg")
#: a boot.cfg is a few kilobytes; a larger one is not an ESXi loader's
MAX_BOOT_CFG = 64 << 10


@dataclass(frozen=True, order=True)
class Patch:
    """Bytes of the view that differ from the ISO's, at ``offset``."""

    offset: int
    data: bytes


def with_option(text: bytes, option: str) -> bytes:
    """``text`` (a boot.cfg) with ``option`` last on its ``kernelopt=`` line; a ``ks=``
    option already there is dropped. Without a ``kernelopt=`` line, one is added after
    ``kernel=`` (or at the end)."""
    lines = text.split(b"\n")
    for i, line in enumerate(lines):
        key, eq, value = line.partition(b"=")
        if eq and key.strip().lower() == b"kernelopt":
            ending = b"\r" if value.endswith(b"\r") else b""
            words = [w for w in value.split() if not w.lower().startswith(b"ks=")]
            lines[i] = b"kernelopt=" + b" ".join([*words, option.encode()]) + ending
            return b"\n".join(lines)
    at = next(
        (i + 1 for i, line in enumerate(lines) if line.partition(b"=")[0].strip() == b"kernel"),
        len(lines),
    )
    if at == len(lines) and lines and lines[-1] == b"":
        at -= 1  # before the final newline
    lines.insert(at, b"kernelopt=" + option.encode())
    return b"\n".join(lines)


def boot_patches(src: Source, option: str = KICKSTART_OPTION) -> list[Patch]:
    """The bytes that make the ISO read by ``src`` boot its installer with ``option``.
    ContentError (with the reason) when it cannot be done in place."""
    iso = IsoImage(src)
    if iso.udf:
        raise ContentError(
            "it has a UDF file system, whose own record of boot.cfg's length osdepot does "
            "not change",
            found="an ESXi medium with UDF",
        )
    patches: dict[int, Patch] = {}
    found = []
    for path in BOOT_FILES:
        entries = iso.every_record(path)
        if not entries:
            continue
        first = entries[0]
        if first.is_dir or len(first.extents) != 1 or first.size > MAX_BOOT_CFG:
            raise ContentError(f"its {path} is not a boot loader configuration file")
        extent = first.extents[0]
        if any(e.extents != first.extents or e.record < 0 for e in entries):
            raise ContentError(f"its directory trees do not agree on where {path} is")
        old = src.read(extent.offset, extent.length, path)
        new = with_option(old, option)
        room = -(-extent.length // SECTOR) * SECTOR
        if len(new) > room:
            raise ContentError(
                f"its {path} ({extent.length} bytes) has no room left in its last sector "
                f"for the boot option {option!r}"
            )
        patches[extent.offset] = Patch(extent.offset, new.ljust(extent.length, b"\x00"))
        for e in entries:
            length = struct.pack("<I", len(new)) + struct.pack(">I", len(new))
            patches[e.record + 10] = Patch(e.record + 10, length)
        found.append(path)
    if not found:
        raise ContentError(
            "it has no boot.cfg (nor efi/boot/boot.cfg), the ESXi loader's configuration"
        )
    return sorted(patches.values())


class PatchedReader:
    """A :class:`~osdepot.ports.RandomAccess` over ``inner`` with ``patches`` laid over
    its bytes (none may reach past its end). Ranges the patches do not touch keep
    the inner reader's file spans (sent with sendfile)."""

    def __init__(self, inner: RandomAccess, patches: Sequence[Patch]) -> None:
        self.inner = inner
        self.patches = sorted(patches)
        for p in self.patches:
            if p.offset < 0 or p.offset + len(p.data) > inner.size:
                raise ValueError(f"a patch at {p.offset} lies outside the file")

    @property
    def size(self) -> int:
        return self.inner.size

    def _touched(self, offset: int, end: int) -> list[Patch]:
        return [p for p in self.patches if p.offset < end and p.offset + len(p.data) > offset]

    def read_at(self, offset: int, n: int) -> bytes:
        data = self.inner.read_at(offset, n)
        touched = self._touched(offset, offset + len(data))
        if not touched:
            return data
        out = bytearray(data)
        for p in touched:
            lo, hi = max(p.offset, offset), min(p.offset + len(p.data), offset + len(data))
            out[lo - offset : hi - offset] = p.data[lo - p.offset : hi - p.offset]
        return bytes(out)

    def span(self, offset: int, n: int) -> tuple[int, int] | None:
        if not isinstance(self.inner, FileSpan) or self._touched(offset, offset + n):
            return None
        return self.inner.span(offset, n)

    def close(self) -> None:
        self.inner.close()
