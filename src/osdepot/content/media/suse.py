"""Older SUSE media: ``media.1/products`` and ``content``."""

from __future__ import annotations

import re

from osdepot.content.media.model import (
    _FOREIGN_NAMES,
    MAX_LABEL,
    MediaInfo,
    Medium,
    _finish,
    _product_family,
    _suse_version,
    norm_arch,
)
from osdepot.domain.images import FAMILIES


def _recognise_suse_legacy(m: Medium) -> MediaInfo | None:
    """SLES 11/12 media: ``content`` (LABEL, VERSION, BASEARCHS) or ``media.1/products``."""
    content = m.text("content", 65536)
    products = m.text("media.1/products", 4096)
    if content is None and products is None:
        return None
    label = version = arch = ""
    evidence = []
    if content is not None:
        evidence.append("content")
        for line in content.splitlines():
            key, _, value = line.partition(" ")
            value = value.strip()
            if key in ("LABEL", "SUMMARY") and not label:
                label = value
            elif key == "VERSION" and not version:
                version = value
            elif key == "BASEARCHS" and not arch:
                arch = value.split()[0] if value else ""
    if products is not None:
        evidence.append("media.1/products")
        first = next((ln for ln in products.splitlines() if ln.strip()), "")
        parts = first.split()
        if len(parts) >= 2 and not label:
            label = parts[1]
        if len(parts) >= 3 and not version:
            version = parts[2].split("-")[0]
    label = label[:MAX_LABEL]  # a version is looked for in it (model.MAX_LABEL)
    fam = _product_family(label) or ("sles" if re.match(r"^SLES?[-_ ]?\d", label, re.I) else None)
    if fam is None:
        return None
    msp = re.search(r"(\d+)[-_ ]?SP(\d+)", label, re.I)
    if msp:
        version = f"{msp.group(1)} SP{msp.group(2)}"
    version = _suse_version(version) if fam != "opensuse" else version
    display = FAMILIES[fam].display if fam in FAMILIES else _FOREIGN_NAMES.get(fam, label)
    return _finish(
        MediaInfo(
            family=fam,
            name=f"{display} {version}",
            version=version,
            arch=norm_arch(arch),
            deployable=fam in FAMILIES,
            source="files",
            evidence=evidence,
        )
    )
