"""The catalog entry of an imported OS medium: the OS image and its predefined
profiles, from what recognition found on the medium."""

from __future__ import annotations

from osdepot.content.media import MediaInfo
from osdepot.domain.records import OsImage, Profile


def build_image(
    image_id: str, media: MediaInfo, description: str, file_id: str, now: float
) -> OsImage:
    """The catalog entry of an imported OS image and its predefined profiles (§8.2).

    Profile ids are ``{imageId}|{imageId}-{arch}-install-{Profile}``; Windows media get
    one profile per edition and installation type found in install.wim.
    """
    arch = media.arch or "x86_64"
    profiles = tuple(
        Profile(
            id=f"{image_id}|{image_id}-{arch}-install-{name}",
            image_id=image_id,
            name=name.replace("_", " "),
            profile=name,
            type="predefined",
            description=f"{name.replace('_', ' ')} installation of {media.name}",
        )
        for name in media.profiles
    )
    return OsImage(
        id=image_id,
        name=media.name,
        file_id=file_id,
        os=media.family,
        osrelease=media.version,
        description=description or media.name,
        created_at=now,
        profiles=profiles,
        version=media.version,
        arch=media.arch,
        osinfo_id=media.osinfo_id,
        build=media.build,
        details={
            "editions": media.editions,
            "variants": media.variants,
            "recognisedBy": media.source,
            "evidence": media.evidence,
            "notes": media.notes,
        },
    )
