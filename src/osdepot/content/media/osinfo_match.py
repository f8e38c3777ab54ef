"""Matching the volume header against osinfo-db."""

from __future__ import annotations

import re

from osdepot.content.iso9660 import VolumeHeader
from osdepot.content.media.model import (
    _DISTRO_FAMILY,
    _WIN_SHORT,
    MediaInfo,
    _finish,
    _linux_version,
    _suse_version,
    norm_arch,
)
from osdepot.content.osinfo import IsoRule, OsinfoDb
from osdepot.domain.images import FAMILIES


def _osinfo_family(rule: IsoRule) -> str | None:
    fam = _DISTRO_FAMILY.get(rule.os.distro)
    short = rule.os.short_id
    if fam == "windows":
        return "windows" if short in _WIN_SHORT else None
    if fam == "rhel" and not re.match(r"^rhel\d", short):
        return None  # RHEL Atomic Host and the like
    return fam


def pick_rule(rules: list[IsoRule]) -> IsoRule:
    """Where osinfo-db itself is ambiguous (several releases share a header), the
    earliest release; the files on the medium decide between them."""
    return min(rules, key=lambda r: (r.os.release_date or "9999", r.os.short_id))


def _from_header(rule: IsoRule, header: VolumeHeader) -> MediaInfo:
    entry = rule.os
    fam = _osinfo_family(rule)
    arch = norm_arch(rule.arch)
    if fam is None:  # _finish refuses it: "…, which is not a deployable server OS"
        return _finish(
            MediaInfo(
                family=entry.distro or "unknown",
                name=entry.name,
                version=entry.version,
                arch=arch,
                deployable=False,
                source="header",
                osinfo_id=entry.short_id,
                evidence=["volume header"],
            )
        )
    version = entry.version
    name = entry.name
    if fam == "windows":
        version = _WIN_SHORT[entry.short_id]
    elif fam == "sles":
        m = re.match(r"^sles?(\d+)(?:sp(\d+))?", entry.short_id)
        version = _suse_version(f"{m.group(1)} SP{m.group(2) or 0}") if m else version
    elif fam == "ubuntu":
        if "server" not in header.volume_id.lower():
            fam, name = "ubuntu-desktop", f"Ubuntu Desktop {version}"
        version = ".".join(version.split(".")[:2])
    else:
        version = _linux_version(version)
    return _finish(
        MediaInfo(
            family=fam,
            name=name,
            version=version,
            arch=arch,
            deployable=fam in FAMILIES,
            source="header",
            osinfo_id=entry.short_id,
            evidence=["volume header"],
        )
    )


def _osinfo_id_for(info: MediaInfo, db: OsinfoDb) -> str | None:
    v = info.version
    major = v.split(".")[0].split(" ")[0]
    cands: list[str] = []
    f = info.family
    if f == "rhel":
        cands = [f"rhel{v}"]
    elif f == "centos":
        cands = [f"centos-stream{major}"] if "stream" in info.name.lower() else [f"centos{v}"]
    elif f == "rocky":
        cands = [f"rocky{v}", f"rocky{major}"]
    elif f == "alma":
        cands = [f"almalinux{v}", f"almalinux{major}"]
    elif f == "oracle":
        cands = [f"ol{v}"]
    elif f == "sles":
        sp = v.replace(" SP", "sp").replace(" ", "")
        cands = [f"sle{sp}", f"sles{sp}"]
    elif f == "ubuntu":
        cands = [f"ubuntu{v}"]
    elif f == "windows":
        cands = [k for k, y in _WIN_SHORT.items() if y == v]
    elif f == "debian":
        cands = [f"debian{v}"]
    elif f == "fedora":
        cands = [f"fedora{v}"]
    elif f == "opensuse":
        cands = [f"opensuse{v}"]
    known = {s for e in db.entries.values() for s in e.short_ids} if db.available else set()
    return next((c for c in cands if c in known), None)
