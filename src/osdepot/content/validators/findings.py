"""What a content check learnt about a valid file (:class:`Findings`), and what a
refused file looks like instead (:func:`sniff`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from osdepot.content.source import Source


@dataclass
class Findings:
    """What a check learnt about a valid file (shown by ``osdepot inspect``)."""

    kind: str
    details: dict[str, Any] = field(default_factory=dict)


def sniff(src: Source) -> str:  # noqa: C901 (one test per file kind, in the order they are told apart)
    """A short description of what the file looks like, for messages."""
    head = src.read_upto(0, 264)
    if head.startswith(b"\x1f\x8b"):
        return "a gzip file"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "a zip archive"
    if head.startswith(b"\xed\xab\xee\xdb"):
        return "an RPM package"
    if head.startswith(b"MSWIM"):
        return "a Windows imaging (WIM) file"
    if head.startswith(b"\x7fELF"):
        return "an ELF executable"
    if head.startswith(b"%PDF"):
        return "a PDF document"
    if head.startswith(b"MZ"):
        return "a Windows executable"
    if len(head) > 262 and head[257:262] == b"ustar":
        return "an uncompressed tar archive"
    if src.size >= 17 * 2048:
        d = src.read(16 * 2048, 8)
        if d[1:6] == b"CD001":
            return "an ISO 9660 image"
        if d[1:6] in (b"BEA01", b"NSR02", b"NSR03"):
            return "a UDF image"
    if head.startswith(b"-----BEGIN PGP"):
        return "a PGP armored file"
    if head.lstrip()[:1] in (b"{", b"["):
        return "JSON-like text"
    if head.lstrip().startswith(b"<"):
        return "XML-like text"
    if src.size == 0:
        return "an empty file"
    if b"\x00" in head:
        return "binary data"
    return "text"
