"""Customised OS-image profiles (contract §4.3, §4.4) and the validation of custom
configuration settings (``POST /osImages/customSettings``).

``POST /osImages/{profileId}`` makes a customised profile of a predefined (or
customised) one with files of the repository; ``PUT /osImages/{id}`` changes a
customised profile, or the description, version or text of a stored file. Every id
and every file is checked before anything changes; a file a profile holds cannot be
deleted (services/repository.py says which profiles hold it).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace
from typing import Any

from osdepot.content.custom_settings import Report, check_settings, parse_settings
from osdepot.content.inspect import inspect_content
from osdepot.domain.images import FAMILIES, ImageType, OsKind, parse_image_type
from osdepot.domain.profiles import (
    OptionGroup,
    check_file_for,
    check_profile_name,
    custom_profile_id,
    os_kind,
    parse_options,
)
from osdepot.domain.records import OsImage, Profile, StoredFile, User
from osdepot.errors import Duplicate, Full, Missing, OsdepotError, error
from osdepot.messages import Messages
from osdepot.services.context import Context
from osdepot.services.import_params import check_label
from osdepot.services.orphans import remove_blob

log = logging.getLogger("osdepot.profiles")

#: PUT /osImages/{id}?imageType=…: the body object that describes each kind of file
#: (the reference names customConfigFile and customSoftware; the others are ours)
FILE_OBJECTS = {
    ImageType.CONFIG: "customConfigFile",
    ImageType.SOFTWARE: "customSoftware",
    ImageType.UNATTEND: "customUnattendFile",
    ImageType.SCRIPT: "customScript",
}
#: the file types whose text PUT may replace (``content``)
TEXT_TYPES = frozenset({ImageType.CONFIG, ImageType.UNATTEND, ImageType.SCRIPT})
MAX_TEXT = 1 << 20
#: customised profiles one OS image may have (each is listed by GET /osImages)
MAX_CUSTOM_PROFILES = 1000


def _object(body: Any, name: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise error(Messages.INVALID_VALUE, name=name, detail=f"{name} must be a JSON object.")
    return body


class Profiles:
    """Customised profiles and changes to stored files."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def profile(self, profile_id: str) -> Profile:
        found = await self.ctx.run(self.ctx.catalog.find_profiles, [profile_id])
        if not found:
            raise error(
                Messages.NOT_FOUND,
                what="Profile",
                name=profile_id,
                detail="GET /osImages lists the profiles of every OS image.",
            )
        return found[0]

    async def image_of(self, profile: Profile) -> OsImage:
        image = await self.ctx.run(self.ctx.catalog.get_image, profile.image_id)
        if image is None:  # deleted since: its profiles went with it
            raise error(Messages.NOT_FOUND, what="Profile", name=profile.id, detail="")
        return image

    # -- POST /osImages/{profileId} ----------------------------------------------------

    async def customise(self, user: User, base_id: str, body: Any) -> Profile:
        base = await self.profile(base_id)
        image = await self.image_of(base)
        kind = self._kind(image)
        spec = _object(_object(body, "request body").get("profile"), "profile")
        name = check_profile_name(spec.get("name"))
        description = str(spec.get("description") or "")
        check_label(description, "profile.description", 2000)
        if "customizationOptions" not in spec:
            raise error(
                Messages.MISSING_PARAMETER,
                name="profile.customizationOptions",
                detail="customizationOptions names the files of the profile "
                "(an empty object for none).",
            )
        if sum(1 for p in image.profiles if p.type == "custom") >= MAX_CUSTOM_PROFILES:
            raise _profiles_full(image.id)  # (counted again when it is added)
        file_ids = await self._files(image, kind, parse_options(spec["customizationOptions"]))
        profile = Profile(
            id=custom_profile_id(image.id, image.arch, name),
            image_id=image.id,
            name=name,
            profile=base.profile,
            type="custom",
            description=description or f"{name}: customised {base.name} profile of {image.name}",
            base_profile=base.id,
            file_ids=tuple(file_ids),
            created_by=user.name,
            created_at=self.ctx.clock(),
        )
        try:
            await self.ctx.run(self.ctx.catalog.add_profile, profile, MAX_CUSTOM_PROFILES)
        except Full:
            raise _profiles_full(image.id) from None
        except Duplicate:
            raise error(Messages.ALREADY_EXISTS, what="Profile", name=profile.id) from None
        except Missing as exc:
            if exc.keys == [image.id]:
                raise error(
                    Messages.NOT_FOUND,
                    what="OS image",
                    name=image.id,
                    detail="It was deleted while the profile was being saved. Nothing was changed.",
                ) from None
            raise self._gone(exc) from None
        log.info("%s made customised profile %s (%d files)", user.name, profile.id, len(file_ids))
        return profile

    def _kind(self, image: OsImage) -> OsKind:
        kind = os_kind(image.os)
        if kind is None:
            raise error(
                Messages.NOT_SUPPORTED,
                detail=f"The profiles of {image.id} cannot be customised: osdepot does not "
                "know its operating system.",
            )
        return kind

    async def _files(
        self, image: OsImage, kind: OsKind, ids: list[tuple[OptionGroup, str]]
    ) -> list[str]:
        """Check that each file exists and fits its group; the ids in group order."""
        files: list[StoredFile] = []
        for group, fid in ids:
            f = await self.ctx.run(self.ctx.catalog.get_file, fid)
            if f is None:
                raise error(
                    Messages.NOT_FOUND,
                    what="File",
                    name=fid,
                    detail="customizationOptions names files by the ids GET /osImages lists.",
                )
            check_file_for(kind, group, f.id, f.image_type, f.os)
            if f.image_type is ImageType.DUD and f.image_name and f.image_name != image.id:
                raise error(
                    Messages.INVALID_VALUE,
                    name="profile.customizationOptions.driverOptions",
                    detail=f"{f.id} is a driver for OS image {f.image_name}, not {image.id}.",
                )
            files.append(f)
        return [f.id for f in files]

    @staticmethod
    def _gone(exc: Missing) -> OsdepotError:
        return error(
            Messages.NOT_FOUND,
            what="File",
            name=", ".join(exc.keys),
            detail="It was deleted while the profile was being saved. Nothing was changed.",
        )

    # -- PUT /osImages/{id} ------------------------------------------------------------

    async def modify(self, user: User, object_id: str, image_type: str | None, body: Any) -> str:
        """Change a customised profile or a stored file; what was changed, in words."""
        body = _object(body, "request body")
        if "profile" in body:
            return await self._modify_profile(user, object_id, body["profile"])
        f = await self.ctx.run(self.ctx.catalog.get_file, object_id)
        if f is None:
            if await self.ctx.run(self.ctx.catalog.find_profiles, [object_id]):
                raise error(
                    Messages.MISSING_PARAMETER,
                    name="profile",
                    detail=f"{object_id} is a profile: send its changes in a profile object.",
                )
            raise error(
                Messages.NOT_FOUND,
                what="Object",
                name=object_id,
                detail="No profile or file has this id (GET /osImages lists them).",
            )
        if image_type and parse_image_type(image_type) is not f.image_type:
            raise error(
                Messages.INVALID_VALUE,
                name="imageType",
                detail=f"{f.id} is a {f.image_type.value} file, not {image_type}.",
            )
        key = FILE_OBJECTS.get(f.image_type)
        spec = _object(body.get(key), key) if key and key in body else body
        return await self._modify_file(user, f, spec, key or "")

    async def _modify_profile(self, user: User, profile_id: str, raw: Any) -> str:
        spec = _object(raw, "profile")
        profile = await self.profile(profile_id)
        if not profile.custom:
            raise error(
                Messages.NOT_SUPPORTED,
                detail=f"{profile_id} is a predefined profile; make a customised profile "
                "of it with POST /osImages/{profileId} and change that one.",
            )
        if "name" in spec and spec["name"] != profile.name:
            raise error(
                Messages.INVALID_VALUE,
                name="profile.name",
                detail="A profile's name is part of its id and cannot change; make a new "
                "profile under the new name and delete this one.",
            )
        description = spec.get("description")
        if description is not None:
            description = str(description)
            check_label(description, "profile.description", 2000)
        file_ids = None
        if "customizationOptions" in spec:
            image = await self.image_of(profile)
            ids = parse_options(spec["customizationOptions"])
            file_ids = await self._files(image, self._kind(image), ids)
        try:
            ok = await self.ctx.run(
                self.ctx.catalog.update_profile, profile_id, description, file_ids
            )
        except Missing as exc:
            raise self._gone(exc) from None
        if not ok:
            raise error(Messages.NOT_FOUND, what="Profile", name=profile_id, detail="")
        log.info("%s changed customised profile %s", user.name, profile_id)
        return f"Profile {profile_id} was changed."

    async def _modify_file(self, user: User, f: StoredFile, spec: dict[str, Any], key: str) -> str:
        allowed = {"description", "version", "associatedFileId"}
        if f.image_type in TEXT_TYPES:
            allowed.add("content")
        unknown = sorted(k for k in spec if k not in allowed)
        if unknown:
            where = f"{key}.{unknown[0]}" if key else unknown[0]
            raise error(
                Messages.INVALID_VALUE,
                name=where,
                detail=f"A {f.image_type.value} file's {', '.join(sorted(allowed))} can be "
                "changed." + (" Its content cannot." if unknown[0] == "content" else ""),
            )
        description, version = spec.get("description"), spec.get("version")
        if description is not None:
            description = str(description)
            check_label(description, "description", 2000)
        if version is not None:
            version = str(version)
            check_label(version, "version", 64)
        associated = spec.get("associatedFileId")
        if associated:
            other = await self.ctx.run(self.ctx.catalog.get_file, str(associated))
            if other is None or other.image_type is not ImageType.UNATTEND:
                raise error(
                    Messages.INVALID_VALUE,
                    name="associatedFileId",
                    detail=f"{associated} is not an unattend file of the repository.",
                )
        content = None
        if spec.get("content") is not None:
            content = await self._new_content(f, spec["content"])
        try:
            old_key = await self.ctx.run(
                self.ctx.catalog.update_file, f.id, description, version, content
            )
        except Missing:
            if content is not None:
                await self.ctx.run(self.ctx.blobs.delete, content.blob_key)
            raise error(Messages.NOT_FOUND, what="File", name=f.id, detail="") from None
        if old_key:
            await remove_blob(self.ctx, old_key)
        log.info("%s changed file %s%s", user.name, f.id, " (new content)" if content else "")
        return f"File {f.id} was changed."

    async def _new_content(self, f: StoredFile, text: Any) -> StoredFile:
        """Stage, check and store new text for ``f``; the file as it will be."""
        if not isinstance(text, str):
            raise error(
                Messages.INVALID_VALUE, name="content", detail="content is the file's text."
            )
        data = text.encode("utf-8")
        if len(data) > MAX_TEXT:
            raise error(
                Messages.INVALID_VALUE,
                name="content",
                detail=f"The text of a {f.image_type.value} file may hold {MAX_TEXT} bytes.",
            )
        family = FAMILIES.get(f.os or "")
        s = self.ctx.settings

        def store() -> StoredFile:
            staging = self.ctx.blobs.create_staging(len(data))
            try:
                staging.write(data)
                staging.finish()
                result = inspect_content(
                    staging.reader(),
                    f.image_type,
                    family,
                    f.name,
                    s.osinfo_path or None,
                    s.content_check_cpu_seconds or None,
                )
                if result.error is not None:
                    raise result.error
                key = self.ctx.blobs.commit(staging)
            except BaseException:
                staging.abort()
                raise
            digests = {a: hashlib.new(a, data).hexdigest() for a in {"sha256", *f.checksums}}
            return replace(
                f, size=len(data), sha256=digests["sha256"], checksums=digests, blob_key=key
            )

        return await self.ctx.run(store)

    # -- POST /osImages/customSettings -------------------------------------------------

    @staticmethod
    def custom_settings(body: Any) -> Report:
        """Check custom configuration settings; raises (400, with the report in
        ``report``) when they are not valid."""
        raw = body
        if isinstance(body, dict) and "customConfigValues" in body:
            raw = body["customConfigValues"]
        elif not isinstance(body, list):
            raise error(
                Messages.MISSING_PARAMETER,
                name="customConfigValues",
                detail='The body is {"customConfigValues": <the settings>}.',
            )
        try:
            report = check_settings(parse_settings(raw))
        except ValueError as exc:
            report = Report(errors=[{"location": "/", "message": str(exc)}])
        return report


def _profiles_full(image_id: str) -> Exception:
    return error(
        Messages.LIMIT_REACHED,
        where=f"OS image {image_id}",
        count=MAX_CUSTOM_PROFILES,
        what="customised profiles",
        detail="Each is listed by GET /osImages for every user.",
    )
