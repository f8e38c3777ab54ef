"""Ubuntu and Debian media: ``.disk/info`` and ``dists/*/Release``."""

from __future__ import annotations

import re

from osdepot.content.media.model import (
    MediaInfo,
    Medium,
    _finish,
    norm_arch,
)


def _recognise_debian(m: Medium) -> MediaInfo | None:
    info = m.text(".disk/info", 4096)
    if info is None:
        return None
    info = info.strip()
    live = m.exists("casper")
    classic = m.exists("install") or m.exists("install.amd") or m.exists("install.a64")
    evidence = [".disk/info"] + (["casper/"] if live else []) + (["install/"] if classic else [])
    release_version = None
    for dist in m.listdir("dists")[:8]:
        rel = m.text(f"dists/{dist}/Release", 65536)
        if rel is None:
            continue
        mv = re.search(r"^Version:\s*(\S+)", rel, re.M)
        if mv:
            release_version = mv.group(1)
            evidence.append(f"dists/{dist}/Release")
            break
    arch_m = re.search(r"\b(amd64|arm64|i386|ppc64el|s390x|x86_64|aarch64)\b", info)
    arch = norm_arch(arch_m.group(1)) if arch_m else None
    if info.lower().startswith("ubuntu"):
        mv = re.search(r"(\d+\.\d+)", info)
        version = release_version or (mv.group(1) if mv else "")
        version = ".".join(version.split(".")[:2])
        server = "server" in info.split('"')[0].lower()
        if not (live or classic):
            return None
        return _finish(
            MediaInfo(
                family="ubuntu" if server else "ubuntu-desktop",
                name=f"Ubuntu {'Server' if server else 'Desktop'} {version}",
                version=version,
                arch=arch,
                deployable=server,
                source="files",
                evidence=evidence,
            )
        )
    if info.lower().startswith("debian"):
        mv = re.search(r"(\d+)(?:\.\d+)*", info)
        version = mv.group(1) if mv else (release_version or "")
        return _finish(
            MediaInfo(
                family="debian",
                name=f"Debian {version}",
                version=version,
                arch=arch,
                deployable=False,
                source="files",
                evidence=evidence,
            )
        )
    return None
