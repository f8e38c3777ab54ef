"""RHEL-like (and SLES 15+) media described by ``.treeinfo`` / ``.discinfo`` / ``media.repo``."""

from __future__ import annotations

import re

from osdepot.content.media.model import (
    _FOREIGN_NAMES,
    MAX_LABEL,
    MediaInfo,
    Medium,
    _finish,
    _linux_version,
    _product_family,
    _suse_version,
    norm_arch,
    parse_treeinfo,
)
from osdepot.content.source import ContentError
from osdepot.domain.images import FAMILIES


def _recognise_treeinfo(m: Medium) -> MediaInfo | None:
    text = m.text(".treeinfo")
    discinfo = m.text(".discinfo", 4096)
    media_repo = m.text("media.repo", 4096)
    if text is None and discinfo is None and media_repo is None:
        return None
    evidence = []
    fam = None
    version = ""
    arch = None
    variants: list[str] = []
    product = ""
    if text is not None:
        ti = parse_treeinfo(text)
        evidence.append(".treeinfo")
        fam, version, arch, variants, product = (
            ti.family,
            ti.version,
            ti.arch,
            ti.variants,
            ti.product,
        )
    if discinfo is not None:
        lines = discinfo.splitlines()
        evidence.append(".discinfo")
        if not fam and len(lines) > 1:
            product = lines[1].strip()[:MAX_LABEL]
            fam = _product_family(product)
            mv = re.search(r"(\d+(?:\.\d+)*)\s*$", product)
            version = version or (mv.group(1) if mv else "")
        if not arch and len(lines) > 2:
            arch = norm_arch(lines[2])
    if media_repo is not None:
        evidence.append("media.repo")
        mn = re.search(r"^name\s*=\s*(.+)$", media_repo, re.M)
        if mn and not fam:
            product = mn.group(1).strip()[:MAX_LABEL]
            fam = _product_family(product)
            mv = re.search(r"(\d+(?:\.\d+)*)\s*$", product)
            version = version or (mv.group(1) if mv else "")
    if fam is None:
        return None
    if fam in ("sles", "sled", "slem", "opensuse"):
        version = _suse_version(version) if fam != "opensuse" else version
    else:
        version = _linux_version(version)
    if not version:
        raise ContentError(
            f"its {evidence[0]} names {product or fam} but no version",
            found="an installation tree without a version",
        )
    if fam in FAMILIES:
        display = FAMILIES[fam].display
        if fam == "centos" and "stream" in product.lower():
            display = "CentOS Stream"
    else:
        display = _FOREIGN_NAMES.get(fam, product or fam)
    return _finish(
        MediaInfo(
            family=fam,
            name=f"{display} {version}",
            version=version,
            arch=arch,
            deployable=fam in FAMILIES,
            source="files",
            variants=variants,
            evidence=evidence,
        )
    )
