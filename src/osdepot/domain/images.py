"""Image types, operating-system families and the imageType × OS × extension table.

The table is the one of the LXCA reference page for ``POST /files/osImages``
(contract §2.2). It decides, before a single byte is stored, whether a file may be
imported as a given type for a given operating system.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from osdepot.errors import error
from osdepot.messages import Messages


class ImageType(StrEnum):
    BOOT = "BOOT"
    BUNDLE = "BUNDLE"
    BUNDLESIG = "BUNDLESIG"
    CONFIG = "CONFIG"
    DUD = "DUD"
    OS = "OS"
    OSPROFILE = "OSPROFILE"
    SCRIPT = "SCRIPT"
    SOFTWARE = "SOFTWARE"
    UNATTEND = "UNATTEND"


#: other names of image types that requests may use
TYPE_ALIASES = {"CUSTOM_CONFIG": ImageType.CONFIG}

#: what each image type is, in words (the web UI's import form)
TYPE_LABELS: dict[ImageType, str] = {
    ImageType.OS: "OS image (.iso)",
    ImageType.DUD: "Device driver",
    ImageType.BOOT: "Boot file (WinPE)",
    ImageType.BUNDLE: "Bundle (.zip)",
    ImageType.BUNDLESIG: "Bundle signature (.asc)",
    ImageType.SCRIPT: "Installation script",
    ImageType.SOFTWARE: "Software archive",
    ImageType.UNATTEND: "Unattend / kickstart / AutoYaST",
    ImageType.CONFIG: "Configuration (JSON)",
    ImageType.OSPROFILE: "Exported OS profile (.tar.gz)",
}


@dataclass(frozen=True)
class ListingGroup:
    """A group of ``GET /osImages`` (LXCA's listing): its key, a title for people,
    and the image types it lists. OS media are listed as images, not in a group."""

    key: str
    title: str
    types: tuple[ImageType, ...]


LISTING_GROUPS: tuple[ListingGroup, ...] = (
    ListingGroup("bootFiles", "Boot files", (ImageType.BOOT,)),
    ListingGroup("deviceDrivers", "Device drivers", (ImageType.DUD,)),
    ListingGroup("bundleFiles", "Bundles", (ImageType.BUNDLE, ImageType.BUNDLESIG)),
    ListingGroup("installScriptFiles", "Installation scripts", (ImageType.SCRIPT,)),
    ListingGroup("softwareFiles", "Software", (ImageType.SOFTWARE,)),
    ListingGroup("unattendFiles", "Unattend files", (ImageType.UNATTEND,)),
    ListingGroup("configFiles", "Configuration files", (ImageType.CONFIG,)),
    ListingGroup("osProfileFiles", "Exported OS profiles", (ImageType.OSPROFILE,)),
)

#: image type → the key of the group that lists it
GROUP_OF: dict[ImageType, str] = {t: g.key for g in LISTING_GROUPS for t in g.types}


def parse_image_type(value: str | None, *, default: ImageType | None = ImageType.OS) -> ImageType:
    """Parse an ``imageType`` value (any case; ``CUSTOM_CONFIG`` means CONFIG)."""
    if value is None or value == "":
        if default is None:
            raise error(
                Messages.MISSING_PARAMETER, name="imageType", detail="imageType is required."
            )
        return default
    key = value.strip().upper()
    if key in TYPE_ALIASES:
        return TYPE_ALIASES[key]
    try:
        return ImageType(key)
    except ValueError:
        allowed = ", ".join([*ImageType, *TYPE_ALIASES])
        raise error(
            Messages.INVALID_VALUE,
            name="imageType",
            detail=f"{value!r} is not an image type. Allowed values: {allowed}.",
        ) from None


class OsKind(StrEnum):
    LINUX = "linux"
    WINDOWS = "windows"
    ESXI = "esxi"


@dataclass(frozen=True)
class OsFamily:
    name: str
    display: str
    kind: OsKind
    profiles: tuple[str, ...]


_LINUX_PROFILES = ("Basic", "Minimal", "Virtualization")

FAMILIES: dict[str, OsFamily] = {
    f.name: f
    for f in (
        OsFamily("rhel", "Red Hat Enterprise Linux", OsKind.LINUX, _LINUX_PROFILES),
        OsFamily("centos", "CentOS", OsKind.LINUX, _LINUX_PROFILES),
        OsFamily("rocky", "Rocky Linux", OsKind.LINUX, _LINUX_PROFILES),
        OsFamily("alma", "AlmaLinux", OsKind.LINUX, _LINUX_PROFILES),
        OsFamily("oracle", "Oracle Linux", OsKind.LINUX, _LINUX_PROFILES),
        OsFamily("sles", "SUSE Linux Enterprise Server", OsKind.LINUX, _LINUX_PROFILES),
        OsFamily("ubuntu", "Ubuntu Server", OsKind.LINUX, ("Basic",)),
        OsFamily("esxi", "VMware ESXi", OsKind.ESXI, ("Virtualization",)),
        OsFamily("windows", "Microsoft Windows Server", OsKind.WINDOWS, ()),
    )
}

_OS_ALIASES = {
    "vmware": "esxi",
    "win": "windows",
    "redhat": "rhel",
    "rhels": "rhel",
    "almalinux": "alma",
    "ol": "oracle",
    "oraclelinux": "oracle",
    "sle": "sles",
    "suse": "sles",
}


def parse_os(value: str | None) -> OsFamily | None:
    """Parse the ``os`` parameter (any case, aliases accepted); None when absent."""
    if value is None or value.strip() == "":
        return None
    key = value.strip().lower()
    key = _OS_ALIASES.get(key, key)
    fam = FAMILIES.get(key)
    if fam is None:
        allowed = ", ".join([*FAMILIES, *_OS_ALIASES])
        raise error(
            Messages.INVALID_VALUE,
            name="os",
            detail=f"{value!r} is not a supported operating system. Allowed values: {allowed}.",
        )
    return fam


#: imageType → OS kind → accepted file-name endings (contract §2.2).
_ALL = (OsKind.LINUX, OsKind.WINDOWS, OsKind.ESXI)
EXTENSIONS: dict[ImageType, dict[OsKind, tuple[str, ...]]] = {
    ImageType.BOOT: {OsKind.WINDOWS: (".zip",)},
    ImageType.BUNDLE: {OsKind.WINDOWS: (".zip",)},
    ImageType.BUNDLESIG: {OsKind.WINDOWS: (".asc",)},
    ImageType.CONFIG: {k: (".json",) for k in _ALL},
    ImageType.DUD: {OsKind.LINUX: (".iso", ".rpm"), OsKind.WINDOWS: (".zip",)},
    ImageType.OS: {k: (".iso",) for k in _ALL},
    ImageType.OSPROFILE: {k: (".tar.gz",) for k in _ALL},
    ImageType.SCRIPT: {
        OsKind.LINUX: (".sh", ".pm", ".pl", ".py"),
        OsKind.WINDOWS: (".cmd", ".ps1"),
    },
    ImageType.SOFTWARE: {OsKind.LINUX: (".tar.gz",), OsKind.WINDOWS: (".zip",)},
    ImageType.UNATTEND: {OsKind.LINUX: (".ks", ".xml"), OsKind.WINDOWS: (".xml",)},
}

#: Types for which the ``os`` parameter is required (contract §2.1).
OS_REQUIRED = frozenset(
    {
        ImageType.BOOT,
        ImageType.CONFIG,
        ImageType.DUD,
        ImageType.SCRIPT,
        ImageType.SOFTWARE,
        ImageType.UNATTEND,
    }
)
#: Types that exist for Windows only; ``os`` defaults to Windows for them.
WINDOWS_ONLY = frozenset({ImageType.BOOT, ImageType.BUNDLE, ImageType.BUNDLESIG})


def resolve_os(image_type: ImageType, os_value: str | None) -> OsFamily | None:
    """The OS family of an upload: parsed, defaulted, or a 412 when required and absent."""
    fam = parse_os(os_value)
    if fam is None and image_type in WINDOWS_ONLY:
        return FAMILIES["windows"]
    if fam is None and image_type in OS_REQUIRED:
        raise error(
            Messages.MISSING_PARAMETER,
            name="os",
            detail=f"The parameter os is required when imageType is {image_type}.",
        )
    return fam


def check_extension(image_type: ImageType, family: OsFamily | None, filename: str) -> None:
    """Refuse (412, FQXHMFC9001J) a file name outside the type × OS table."""
    table = EXTENSIONS[image_type]
    lower = filename.lower()
    os_label = family.name if family else "any operating system"
    if family is None:
        allowed = sorted({e for exts in table.values() for e in exts})
    else:
        if family.kind not in table:
            raise error(
                Messages.UNSUPPORTED_FILE_TYPE,
                filename=filename,
                image_type=image_type,
                os=os_label,
                detail=f"Files of type {image_type} are not supported for {family.display}.",
            )
        allowed = list(table[family.kind])
    if not any(lower.endswith(ext) and len(lower) > len(ext) for ext in allowed):
        raise error(
            Messages.UNSUPPORTED_FILE_TYPE,
            filename=filename,
            image_type=image_type,
            os=os_label,
            detail=f"For {image_type} on {os_label} the file name must end with "
            f"{' or '.join(allowed)}.",
        )


def image_id_for(
    image_id: str,
    family: str,
    build: str | None,
    name: str,
    stored_build: Callable[[str], str | None],
) -> str:
    """The id a recognised medium is stored under: ``image_id``, unless its release is
    stored already (409 FQXHMFC9024J). ESXi media are keyed by build: another build of
    a stored release gets its build number appended. ``stored_build(id)`` is the build
    of the stored OS image with that id ("" when it has none), None when there is none;
    the server asks its catalog, ``osdepot import`` the listing, before a byte is sent."""
    existing = stored_build(image_id)
    if existing is None:
        return image_id
    taken = image_id
    if family == "esxi" and build and existing != build:
        alternative = f"{image_id}-{build}"
        if stored_build(alternative) is None:
            return alternative
        taken = alternative
    what = name + (f" build {build}" if family == "esxi" else "")
    raise error(Messages.RELEASE_EXISTS, what=what, image_id=taken)
