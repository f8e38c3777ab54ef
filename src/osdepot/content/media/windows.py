"""Windows Server media: the editions in ``sources/install.wim``."""

from __future__ import annotations

from typing import Any

from osdepot.content.media.model import (
    WINDOWS_BUILDS,
    MediaInfo,
    Medium,
    _finish,
)
from osdepot.content.wim import WimImage, read_wim_images


def _recognise_windows(m: Medium) -> MediaInfo | None:
    wim = m.open("sources/install.wim") or m.open("sources/install.esd")
    if wim is None:
        if m.exists("sources/boot.wim") and m.exists("bootmgr"):
            return MediaInfo(
                family="winpe",
                name="Windows PE boot medium",
                version="",
                arch=None,
                deployable=False,
                source="files",
                evidence=["sources/boot.wim"],
                reason="a Windows PE boot medium without sources/install.wim, "
                "which is not a deployable server OS",
            )
        return None
    images = read_wim_images(wim)
    servers = [i for i in images if i.installation_type.lower().startswith("server")]
    build = max(i.build for i in images)
    arch = next((i.arch for i in images if i.arch), None)
    evidence = [wim.name]
    if not servers:
        client = "Windows 11" if build >= 22000 else "Windows 10" if build >= 10240 else "Windows"
        return MediaInfo(
            family="windows-client",
            name=f"Microsoft {client} (build {build})",
            version=str(build),
            arch=arch,
            deployable=False,
            source="files",
            build=str(build),
            evidence=evidence,
            editions=[_edition(i) for i in images],
            reason=f"Microsoft {client}, a client edition, which is not a deployable server OS",
        )
    server_build = max(i.build for i in servers)
    year = WINDOWS_BUILDS.get(server_build)
    editions = [_edition(i) for i in servers]
    profiles = []
    for e in editions:
        if e["profile"] and e["profile"] not in profiles:
            profiles.append(e["profile"])
    if year is None:
        b = server_build
        return MediaInfo(
            family="windows-other",
            name=f"Microsoft Windows Server (build {b})",
            version=str(b),
            arch=arch,
            deployable=False,
            source="files",
            build=str(b),
            editions=editions,
            evidence=evidence,
            reason=f"Microsoft Windows Server build {b}, a release osdepot does not deploy "
            f"(it deploys builds {', '.join(f'{k} ({v})' for k, v in WINDOWS_BUILDS.items())})",
        )
    return _finish(
        MediaInfo(
            family="windows",
            name=f"Microsoft Windows Server {year}",
            version=year,
            arch=arch,
            deployable=True,
            source="files",
            build=str(server_build),
            profiles=profiles,
            editions=editions,
            evidence=evidence,
        )
    )


def _edition(i: WimImage) -> dict[str, Any]:
    ed = i.edition_id
    base = ed.removeprefix("Server").removesuffix("Eval").removesuffix("ACor").strip()
    core = i.installation_type.lower() == "server core"
    profile = f"{base}_core" if core and base else base
    return {
        "index": i.index,
        "name": i.name,
        "editionId": ed,
        "installationType": i.installation_type,
        "build": i.build,
        "profile": profile if i.installation_type.lower().startswith("server") else None,
    }
