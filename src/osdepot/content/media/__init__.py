"""Recognise an installation medium: which OS, which release, which editions.

The files on the medium decide (``.treeinfo``, ``.discinfo``, ``media.repo``,
``media.1/products``, ``content``, ``.disk/info``, ``dists/*/Release``, ESXi's
``boot.cfg`` and ``upgrade/metadata.xml``, Windows' ``sources/install.wim``). The
volume header matched against osinfo-db confirms them, names the osinfo short id,
and recognises media whose files say nothing. Where files and header disagree, the
files win.
"""

from __future__ import annotations

from collections.abc import Callable

from osdepot.content.iso9660 import IsoImage, VolumeHeader
from osdepot.content.media.debian import _recognise_debian
from osdepot.content.media.esxi import _recognise_esxi
from osdepot.content.media.model import (
    WINDOWS_BUILDS,
    MediaInfo,
    Medium,
    TreeInfo,
    image_id_for,
    norm_arch,
    parse_treeinfo,
)
from osdepot.content.media.osinfo_match import (
    _from_header,
    _osinfo_family,
    _osinfo_id_for,
    pick_rule,
)
from osdepot.content.media.suse import _recognise_suse_legacy
from osdepot.content.media.treeinfo import _recognise_treeinfo
from osdepot.content.media.windows import _recognise_windows
from osdepot.content.osinfo import OsinfoDb

__all__ = [
    "RECOGNISERS",
    "WINDOWS_BUILDS",
    "MediaInfo",
    "Medium",
    "TreeInfo",
    "image_id_for",
    "norm_arch",
    "parse_treeinfo",
    "pick_rule",
    "recognise",
]

#: The recognisers, one per family of media, tried in order; the first that knows the
#: medium decides.
RECOGNISERS: list[Callable[[Medium, VolumeHeader | None], MediaInfo | None]] = [
    lambda m, h: _recognise_windows(m),
    _recognise_esxi,
    lambda m, h: _recognise_treeinfo(m),
    lambda m, h: _recognise_suse_legacy(m),
    lambda m, h: _recognise_debian(m),
]


def recognise(iso: IsoImage, db: OsinfoDb) -> MediaInfo | None:
    """What the medium is, or None when nothing identifies an installer on it."""
    medium = Medium(iso)
    header = iso.header
    rules = db.match(header) if header is not None and db.available else []
    by_header = pick_rule(rules) if rules else None
    from_files = None
    for rec in RECOGNISERS:
        from_files = rec(medium, header)
        if from_files is not None:
            break
    if from_files is not None:
        derived = _osinfo_id_for(from_files, db)
        if by_header is not None:
            header_ids = {r.os.short_id for r in rules}
            fam = _osinfo_family(by_header) or by_header.os.distro
            if fam != from_files.family:
                from_files.notes.append(
                    f"The volume header matches {by_header.os.name} in osinfo-db; the "
                    "files on the medium say otherwise and decide."
                )
            elif derived is None:
                derived = by_header.os.short_id
            elif derived not in header_ids:
                from_files.notes.append(
                    f"The volume header matches {by_header.os.name} in osinfo-db; the "
                    f"files on the medium say {from_files.name} and decide."
                )
        from_files.osinfo_id = derived
        return from_files
    if by_header is None:
        return None
    info = _from_header(by_header, header)  # type: ignore[arg-type]
    others = sorted({r.os.short_id for r in rules} - {by_header.os.short_id})
    if others:
        info.notes.append(
            "osinfo-db matches this header for several releases "
            f"({', '.join([by_header.os.short_id, *others])}); the earliest is reported."
        )
    if info.deployable and not (iso.el_torito or iso.udf):
        # A header that names a server OS on a disc nobody can boot from.
        info.deployable = False
        info.reason = None
        return None
    return info
