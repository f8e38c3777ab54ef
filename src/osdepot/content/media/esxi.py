"""VMware ESXi media: ``boot.cfg`` and ``upgrade/metadata.xml``."""

from __future__ import annotations

import re

from osdepot.content.iso9660 import VolumeHeader
from osdepot.content.media.model import (
    MAX_LABEL,
    MediaInfo,
    Medium,
    _finish,
)
from osdepot.content.source import ContentError

_BUILD = re.compile(r"build\s*=\s*(\d+)\.(\d+)\.(\d+)-[\d.]*?(\d{5,})\s*")


def _recognise_esxi(m: Medium, header: VolumeHeader | None) -> MediaInfo | None:
    boot = m.text("boot.cfg")
    meta = m.text("upgrade/metadata.xml")
    osl = m.text("vmware-esx-base-osl.txt", 8192)
    if boot is None or not (meta or osl or "esx" in boot.lower()):
        return None
    version = build = None
    evidence = ["boot.cfg"]
    vid = header.volume_id if header else ""
    hv = re.match(r"^ESXI-(\d+\.\d+(?:U\d+[a-z]?)?)-(\d+)", vid, re.I)
    if hv:
        version, build = hv.group(1).upper(), hv.group(2)
    # The build= line alone, and no more than a real one's length, is matched: the
    # pattern takes the square of a crafted line's length (boot.cfg may be 256 KiB).
    line = re.search(r"^build\s*=[^\n]*", boot, re.M)
    mb = _BUILD.fullmatch(line.group(0)[:MAX_LABEL].rstrip()) if line else None
    if mb:
        major, minor, upd, b = mb.groups()
        fv = f"{major}.{minor}" + (f"U{upd}" if upd != "0" else "")
        version, build = fv, b
    if meta:
        evidence.append("upgrade/metadata.xml")
        mv = re.search(r"<esxVersion>\s*([\d.]+)\s*</esxVersion>", meta)
        mbld = re.search(r"<build>\s*(\d+)\s*</build>", meta) or re.search(
            r"build[\"'=:\s>]+(\d{5,})", meta
        )
        if mv and not version:
            parts = mv.group(1).split(".")
            version = ".".join(parts[:2]) + (
                f"U{parts[2]}" if len(parts) > 2 and parts[2] != "0" else ""
            )
        if mbld and not build:
            build = mbld.group(1)
    if osl:
        evidence.append("vmware-esx-base-osl.txt")
        mo = re.search(r"ESXi\s+(\d+\.\d+)(?:\s+Update\s+(\d+))?", osl)
        if mo and not version:
            version = mo.group(1) + (f"U{mo.group(2)}" if mo.group(2) else "")
    if not version:
        raise ContentError(
            "it carries ESXi installer files but none of them names the ESXi version",
            found="an ESXi medium without version information",
        )
    version = version.replace("u", "U")
    return _finish(
        MediaInfo(
            family="esxi",
            name=f"VMware ESXi {version.replace('U', ' Update ')}",
            version=version,
            arch="x86_64",
            deployable=True,
            source="files",
            build=build,
            evidence=evidence,
        )
    )
