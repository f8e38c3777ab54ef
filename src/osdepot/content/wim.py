"""The image list of a Windows imaging file (install.wim / install.esd).

The WIM header (208 bytes) points at an uncompressed UTF-16 XML document that
describes every image in the file: edition, installation type, build and
architecture. Reading it needs the header and the XML, not wimlib.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET

from osdepot.content.source import ContentError, FileData
from osdepot.domain.text import decimal

_MAGIC = b"MSWIM\x00\x00\x00"
_MAX_XML = 16 << 20
_ARCH = {0: "x86", 5: "arm", 9: "x86_64", 12: "aarch64"}


@dataclass(frozen=True)
class WimImage:
    index: int
    name: str
    edition_id: str
    installation_type: str
    product_type: str
    build: int
    major: int
    minor: int
    arch: str | None


def read_wim_images(f: FileData) -> list[WimImage]:
    head = f.read(0, 208)
    if len(head) < 208 or head[:8] != _MAGIC:
        raise ContentError(
            f"{f.name} is not a Windows imaging (WIM) file", found="a damaged Windows medium"
        )
    raw_size = struct.unpack_from("<Q", head, 72)[0]
    size = raw_size & 0x00FFFFFFFFFFFFFF
    offset = struct.unpack_from("<Q", head, 80)[0]
    if size == 0 or size > _MAX_XML or offset + size > f.size:
        raise ContentError(
            f"the image list of {f.name} lies outside the file", found="a damaged Windows medium"
        )
    xml = f.read(offset, size)
    try:
        text = xml.decode("utf-16")
        root = SafeET.fromstring(text)
    except Exception as exc:  # defusedxml and the decoder raise several kinds
        raise ContentError(
            f"the image list of {f.name} cannot be read ({exc})",
            found="a damaged Windows medium",
        ) from None
    images = []

    def t(node: Element, path: str) -> str:
        el = node.find(path)
        return (el.text or "").strip() if el is not None else ""

    def num(node: Element, path: str) -> int:
        try:
            return int(t(node, path))
        except ValueError:
            return 0

    for img in root.findall("IMAGE"):
        win = img.find("WINDOWS")
        if win is None:
            continue

        arch_raw = t(win, "ARCH")
        images.append(
            WimImage(
                index=decimal(img.get("INDEX", "") or "") or 0,
                name=t(img, "NAME") or t(img, "DISPLAYNAME"),
                edition_id=t(win, "EDITIONID"),
                installation_type=t(win, "INSTALLATIONTYPE"),
                product_type=t(win, "PRODUCTTYPE"),
                build=num(win, "VERSION/BUILD"),
                major=num(win, "VERSION/MAJOR"),
                minor=num(win, "VERSION/MINOR"),
                arch=None if (code := decimal(arch_raw)) is None else _ARCH.get(code),
            )
        )
    if not images:
        raise ContentError(
            f"the image list of {f.name} names no Windows image",
            found="a damaged Windows medium",
        )
    return images
