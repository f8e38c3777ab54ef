"""Customised OS-image profiles: what ``customizationOptions`` may hold, for which
operating systems, and the id a customised profile gets (contract §4.3).

A customised profile is a predefined profile of a stored OS image plus files of the
repository: boot files, device drivers, configuration settings, installation scripts,
software payloads and an unattend file. Each option group of LXCA's
``customizationOptions`` takes files of one image type; the groups an operating
system does not support are shown as empty strings, as LXCA shows them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from osdepot.domain.images import FAMILIES, ImageType, OsKind
from osdepot.errors import error
from osdepot.messages import Messages


@dataclass(frozen=True)
class OptionGroup:
    """One group of ``customizationOptions``: its key, the key of its id list, the
    image type of its files, the OS kinds that support it and how many files it
    takes at most."""

    key: str
    ids_key: str
    image_type: ImageType
    kinds: frozenset[OsKind]
    most: int


_ALL = frozenset(OsKind)
_NOT_ESXI = frozenset({OsKind.LINUX, OsKind.WINDOWS})

OPTION_GROUPS: tuple[OptionGroup, ...] = (
    OptionGroup("bootOptions", "bootFileIds", ImageType.BOOT, frozenset({OsKind.WINDOWS}), 1),
    OptionGroup("driverOptions", "driverIds", ImageType.DUD, _NOT_ESXI, 100),
    OptionGroup("customConfigOptions", "customConfigFileIds", ImageType.CONFIG, _ALL, 1),
    OptionGroup("customScriptOptions", "customScriptIds", ImageType.SCRIPT, _NOT_ESXI, 100),
    OptionGroup("customSoftwareOptions", "customSoftwareIds", ImageType.SOFTWARE, _NOT_ESXI, 100),
    OptionGroup("unattendOptions", "unattendFileIds", ImageType.UNATTEND, _ALL, 1),
)
GROUP_BY_TYPE = {g.image_type: g for g in OPTION_GROUPS}

#: the files a profile can hold in all
MAX_PROFILE_FILES = sum(g.most for g in OPTION_GROUPS)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")


def check_profile_name(name: object) -> str:
    """A customised profile's name: letters, digits, space and ``. _ -``, at most 64."""
    if not isinstance(name, str) or not _NAME.match(name.strip()):
        raise error(
            Messages.INVALID_VALUE,
            name="profile.name",
            detail="A profile name starts with a letter or digit and holds only letters, "
            "digits, spaces and . _ - (at most 64 characters).",
        )
    return name.strip()


def custom_profile_id(image_id: str, arch: str | None, name: str) -> str:
    """``{imageId}|{imageId}-{arch}-install-Custom_{name}``, LXCA's form (§4.1's
    example ``win2016|win2016-x86_64-install-Custom_web``)."""
    return f"{image_id}|{image_id}-{arch or 'x86_64'}-install-Custom_{name.replace(' ', '_')}"


def os_kind(family: str | None) -> OsKind | None:
    fam = FAMILIES.get(family or "")
    return fam.kind if fam else None


def parse_options(
    options: Any, where: str = "profile.customizationOptions"
) -> list[tuple[OptionGroup, str]]:
    """The groups and file ids that ``customizationOptions`` names, in group order,
    checked for shape only (the files themselves are checked by the service). Groups may be
    absent, null or "" (LXCA's way of saying unsupported); ``customConfigFileIds``
    may hold ids or ``{"id": …}`` objects."""
    if options is None or options == "":
        return []
    if not isinstance(options, dict):
        raise error(Messages.INVALID_VALUE, name=where, detail=f"{where} must be an object.")
    known = {g.key for g in OPTION_GROUPS}
    unknown = sorted(k for k in options if k not in known)
    if unknown:
        raise error(
            Messages.INVALID_VALUE,
            name=f"{where}.{unknown[0]}",
            detail=f"{unknown[0]} is not an option osdepot knows. The options are "
            f"{', '.join(g.key for g in OPTION_GROUPS)}.",
        )
    ids: list[tuple[OptionGroup, str]] = []
    for g in OPTION_GROUPS:
        group = options.get(g.key)
        if group is None or group == "":
            continue
        name = f"{where}.{g.key}"
        if not isinstance(group, dict):
            raise error(Messages.INVALID_VALUE, name=name, detail=f"{name} must be an object.")
        extra = sorted(k for k in group if k != g.ids_key)
        if extra:
            raise error(
                Messages.INVALID_VALUE,
                name=f"{name}.{extra[0]}",
                detail=f"{g.key} holds only {g.ids_key}.",
            )
        raw = group.get(g.ids_key) or []
        if not isinstance(raw, list):
            raise error(
                Messages.INVALID_VALUE,
                name=f"{name}.{g.ids_key}",
                detail=f"{g.ids_key} must be a list of file ids.",
            )
        if len(raw) > g.most:
            raise error(
                Messages.INVALID_VALUE,
                name=f"{name}.{g.ids_key}",
                detail=f"A profile takes at most {g.most} file(s) in {g.ids_key}.",
            )
        for item in raw:
            fid = item.get("id") if isinstance(item, dict) else item
            if not isinstance(fid, str) or not fid or len(fid) > 300 or "\x00" in fid:
                raise error(
                    Messages.INVALID_VALUE,
                    name=f"{name}.{g.ids_key}",
                    detail=f"{g.ids_key} holds file ids (strings) as GET /osImages lists them.",
                )
            if fid in [i for _g, i in ids]:
                raise error(
                    Messages.INVALID_VALUE,
                    name=f"{name}.{g.ids_key}",
                    detail=f"{fid} is named twice.",
                )
            ids.append((g, fid))
    return ids


def check_file_for(
    kind: OsKind, group: OptionGroup, file_id: str, image_type: ImageType, file_os: str | None
) -> None:
    """Refuse a file that ``group`` of a profile for an OS of ``kind`` does not take."""
    if image_type is not group.image_type:
        raise error(
            Messages.INVALID_VALUE,
            name=f"profile.customizationOptions.{group.key}.{group.ids_key}",
            detail=f"{file_id} is a {image_type.value} file; {group.ids_key} takes "
            f"{group.image_type.value} files.",
        )
    if kind not in group.kinds:
        raise error(
            Messages.INVALID_VALUE,
            name=f"profile.customizationOptions.{group.key}",
            detail=f"{group.key} is not supported for {kind.value} profiles.",
        )
    file_kind = os_kind(file_os)
    if file_kind is not None and file_kind is not kind:
        raise error(
            Messages.INVALID_VALUE,
            name=f"profile.customizationOptions.{group.key}",
            detail=f"{file_id} is a file for {file_os}; this profile installs a "
            f"{kind.value} operating system.",
        )


def options_json(kind: OsKind | None, files: list[tuple[str, ImageType]]) -> dict[str, Any]:
    """``customizationOptions`` as the listing shows it: each supported group with its
    file ids, unsupported groups as ""."""
    out: dict[str, Any] = {}
    for g in OPTION_GROUPS:
        if kind is not None and kind not in g.kinds:
            out[g.key] = ""
            continue
        out[g.key] = {g.ids_key: [fid for fid, t in files if t is g.image_type]}
    return out
