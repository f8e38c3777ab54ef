"""Validate a file for an image type and recognise installation media.

One function, :func:`inspect_content`, serves the import pipeline (on the staged
file, before commit, through whatever reader the blob store gives) and, as
:func:`inspect_path`, ``osdepot inspect`` (on any local file). Both read at the offsets
the checks need, never the whole file in one piece, and never a local path above
``osdepot.files``. They never raise for bad content: the result says whether the file
is valid and carries the message a refusal would carry.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from osdepot.content import osinfo, validators
from osdepot.content.media import MediaInfo, recognise
from osdepot.content.media.model import Medium
from osdepot.content.media.verify import verify_medium
from osdepot.content.source import ContentError, Source, TooCostly
from osdepot.domain.images import ImageType, OsFamily, OsKind
from osdepot.errors import OsdepotError, error
from osdepot.files import FileReader
from osdepot.messages import Messages
from osdepot.ports import RandomAccess

_EXPECTED = {
    "iso": "installation ISO image",
    "dud-iso": "driver update disk ISO image",
    "tar.gz": "gzip-compressed tar archive",
    "zip": "zip archive",
    "zip-inf": "zip archive of Windows drivers",
    "zip-winpe": "zip archive holding a Windows PE boot environment",
    "rpm-kmod": "kernel-module RPM package",
    "json": "JSON document",
    "xml-autoyast": "AutoYaST profile",
    "xml-unattend": "Windows unattend file",
    "kickstart": "kickstart file",
    "script": "script",
    "asc": "PGP signature (ASCII armor)",
}


#: The ``os`` parameter names a group: an RHEL rebuild may be imported as "rhel".
_GROUP = {"centos": "rhel", "rocky": "rhel", "alma": "rhel", "oracle": "rhel"}


@dataclass
class Inspection:
    valid: bool
    file_kind: str
    image_type: ImageType
    size: int
    bytes_read: int = 0
    messages: list[dict[str, Any]] = field(default_factory=list)
    os: MediaInfo | None = None
    details: dict[str, Any] = field(default_factory=dict)
    error: OsdepotError | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "fileKind": self.file_kind,
            "imageType": self.image_type.value,
            "messages": self.messages,
            "os": self.os.as_json() if self.os is not None else None,
            "size": self.size,
            "bytesRead": self.bytes_read,
            "details": self.details,
        }


def kind_for(image_type: ImageType, family: OsFamily | None, filename: str) -> str:
    """Which check a file gets, from its type, OS and name (the §2.2 table)."""
    low = filename.lower()
    windows = family is not None and family.kind is OsKind.WINDOWS
    if image_type is ImageType.OS:
        return "iso"
    if image_type is ImageType.DUD:
        if low.endswith(".rpm"):
            return "rpm-kmod"
        if low.endswith(".zip") or windows:
            return "zip-inf"
        return "dud-iso"
    if image_type is ImageType.OSPROFILE:
        return "tar.gz"
    if image_type is ImageType.SOFTWARE:
        return "zip" if low.endswith(".zip") else "tar.gz"
    if image_type is ImageType.BOOT:
        return "zip-winpe"
    if image_type is ImageType.BUNDLE:
        return "zip"
    if image_type is ImageType.BUNDLESIG:
        return "asc"
    if image_type is ImageType.CONFIG:
        return "json"
    if image_type is ImageType.UNATTEND:
        if low.endswith(".ks") or low.endswith(".cfg"):
            return "kickstart"
        return "xml-unattend" if windows else "xml-autoyast"
    return "script"


#: file names that say what the file is (``osdepot import`` without --type)
_NAMED_TYPES = (
    (".iso", ImageType.OS),
    (".rpm", ImageType.DUD),
    (".json", ImageType.CONFIG),
    (".ks", ImageType.UNATTEND),
    (".asc", ImageType.BUNDLESIG),
    (".sh", ImageType.SCRIPT),
    (".ps1", ImageType.SCRIPT),
    (".py", ImageType.SCRIPT),
    (".bat", ImageType.SCRIPT),
    (".cmd", ImageType.SCRIPT),
)
#: names that fit several types, and the likeliest (``osdepot inspect``'s guess)
_LIKELY_TYPES = (
    (".xml", ImageType.UNATTEND),
    (".tar.gz", ImageType.SOFTWARE),
    (".zip", ImageType.SOFTWARE),
)


def _by_suffix(filename: str, table: tuple[tuple[str, ImageType], ...]) -> ImageType | None:
    low = filename.lower()
    return next((t for ext, t in table if low.endswith(ext)), None)


def type_from_name(filename: str) -> ImageType | None:
    """The image type a file's name says unambiguously, or None."""
    return _by_suffix(filename, _NAMED_TYPES)


def guess_type(filename: str) -> ImageType:
    """The image type a file name suggests (``osdepot inspect`` without --type): the
    unambiguous one, else the likeliest, else SCRIPT."""
    return type_from_name(filename) or _by_suffix(filename, _LIKELY_TYPES) or ImageType.SCRIPT


def inspect_path(
    path: str | os.PathLike[str],
    image_type: ImageType,
    family: OsFamily | None,
    filename: str,
    osinfo_path: str | None = None,
    cpu_budget: float | None = None,
) -> Inspection:
    """:func:`inspect_content` of a local file (``osdepot inspect FILE``)."""
    return inspect_content(FileReader(path), image_type, family, filename, osinfo_path, cpu_budget)


def inspect_content(
    data: RandomAccess,
    image_type: ImageType,
    family: OsFamily | None,
    filename: str,
    osinfo_path: str | None = None,
    cpu_budget: float | None = None,
) -> Inspection:
    """Check ``data`` (read at the offsets the checks need, never whole) as a file of
    ``image_type``; it is closed afterwards. ``cpu_budget``: CPU seconds the checks may
    take before the file is refused (FQXHMFC9034J); None for no limit."""
    kind = kind_for(image_type, family, filename)
    with Source(data, cpu_budget) as src:
        result = Inspection(False, kind, image_type, src.size)
        try:
            try:
                _check(src, kind, image_type, family, filename, osinfo_path, result)
            except RecursionError:
                raise ContentError(
                    "its structures are nested more deeply than osdepot follows",
                    found="deeply nested data",
                ) from None
            result.valid = True
        except TooCostly as exc:
            result.error = error(
                Messages.CONTENT_TOO_COSTLY, filename=filename, seconds=f"{exc.seconds:g}"
            )
        except ContentError as exc:
            found = exc.found or validators.sniff(src)
            result.error = error(
                Messages.CONTENT_INVALID,
                filename=filename,
                expected=_EXPECTED[kind],
                found=found,
                detail=exc.detail,
            )
            result.details.setdefault("found", found)
        except OsdepotError as exc:
            result.error = exc
        result.bytes_read = src.bytes_read
    if result.error is not None:
        result.messages = [result.error.render()]
    return result


def _check(
    src: Source,
    kind: str,
    image_type: ImageType,
    family: OsFamily | None,
    filename: str,
    osinfo_path: str | None,
    result: Inspection,
) -> None:
    v = validators
    if kind == "iso":
        _check_medium(src, family, filename, osinfo_path, result)
        return
    checks = {
        "dud-iso": lambda: v.check_dud_iso(src),
        "tar.gz": lambda: v.check_tar_gz(src),
        "zip": lambda: v.check_zip(src),
        "zip-inf": lambda: v.check_zip(src, require="inf"),
        "zip-winpe": lambda: v.check_zip(src, require="winpe"),
        "rpm-kmod": lambda: v.check_rpm(src, kernel_module=True),
        "json": lambda: v.check_json(src),
        "xml-autoyast": lambda: v.check_xml(src, "autoyast"),
        "xml-unattend": lambda: v.check_xml(src, "unattend"),
        "kickstart": lambda: v.check_kickstart(src),
        "script": lambda: v.check_script(src, filename),
        "asc": lambda: v.check_asc(src),
    }
    found = checks[kind]()
    result.file_kind = found.kind
    result.details.update(found.details)


def _check_medium(
    src: Source,
    family: OsFamily | None,
    filename: str,
    osinfo_path: str | None,
    result: Inspection,
) -> None:
    iso = validators.open_disc(src)
    h = iso.header
    if h is not None:
        result.details["volumeHeader"] = {
            "systemId": h.system_id,
            "volumeId": h.volume_id,
            "publisherId": h.publisher_id,
            "applicationId": h.application_id,
            "volumeSize": h.volume_bytes,
        }
    result.details["bootable"] = iso.el_torito
    result.details["udf"] = iso.udf
    result.file_kind = "ISO 9660 image" + (" with UDF" if iso.udf else "")
    db = osinfo.load(osinfo_path)
    result.details["osinfoDb"] = db.version or None
    info = recognise(iso, db)
    result.os = info
    if info is None:
        what = "a bootable disc image" if iso.el_torito else "a disc image"
        raise error(
            Messages.NOT_INSTALL_MEDIUM,
            filename=filename,
            detail=f"It is {what}, but osdepot found no installer on it (no .treeinfo, "
            ".discinfo, media.repo, SUSE content or products file, .disk/info, ESXi "
            "boot.cfg or Windows sources/install.wim), and its volume header "
            f"({h.volume_id if h else 'none'!r}) matches no operating system in osinfo-db.",
        )
    if not info.deployable:
        raise error(
            Messages.NOT_DEPLOYABLE,
            filename=filename,
            what=info.reason or f"{info.name}, which is not a deployable server OS",
            detail="",
        )
    if family is not None and _GROUP.get(family.name, family.name) != _GROUP.get(
        info.family, info.family
    ):
        raise error(
            Messages.CONTENT_INVALID,
            filename=filename,
            expected=f"{family.display} installation medium",
            found=f"a {info.name} installation medium",
            detail=f"the medium is {info.name}, but the os parameter says {family.name}",
        )


def verify_content(data: RandomAccess, filename: str) -> tuple[dict[str, Any], OsdepotError | None]:
    """Check an OS medium's files against its own metadata (content/media/verify.py):
    every checksum it declares, and that the files its installer needs are there. It
    reads the declared files whole, so it has no CPU budget; its work is bounded by
    the medium's size. ``data`` is closed afterwards. Returns what was checked and the
    refusal (FQXHMFC9039J) if the medium is damaged."""
    with Source(data) as src:
        try:
            report = verify_medium(Medium(validators.open_disc(src)))
        except ContentError as exc:
            return {}, error(Messages.MEDIUM_DAMAGED, filename=filename, detail=exc.detail)
        return report.as_json(), None
