"""Importing an exported profile's archive again (``imageType=OSPROFILE``).

The archive (content/profile_archive.py) is checked member by member against its
manifest as it streams by; each file is checked as if it were imported alone and
stored unless the repository holds the same bytes as a file of the same type; an
archive whose OS image the repository does not hold is refused with a message that
names the medium. The profile, the files it brought and the archive itself are then
committed in the import's one transaction (services/import_record.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from osdepot.content.inspect import inspect_content
from osdepot.content.profile_archive import Member, read_archive
from osdepot.domain.images import FAMILIES, parse_image_type
from osdepot.domain.names import clean_filename, make_file_id
from osdepot.domain.profiles import (
    check_file_for,
    check_profile_name,
    custom_profile_id,
    os_kind,
    parse_options,
)
from osdepot.domain.records import Profile, ProfileImport, StoredFile, User
from osdepot.errors import ContentError, OsdepotError, error
from osdepot.messages import Messages
from osdepot.ports import RandomAccess
from osdepot.services.context import Context
from osdepot.services.downloads import deleted_just_now


def unpack_profile(
    ctx: Context, reader: RandomAccess, user: User, job_id: int, filename: str, now: float
) -> tuple[ProfileImport, list[str]]:
    """Verify an exported profile's archive and store the files it brings; the
    profile and files to commit and the blob keys written (which the caller deletes
    should the commit not happen). Runs in a worker thread."""
    cat, blobs, s = ctx.catalog, ctx.blobs, ctx.settings
    kept: list[str] = []
    ids: dict[str, str] = {}  # id in the archive → id here
    new: list[StoredFile] = []
    taken: set[str] = set()

    def refuse(detail: str) -> OsdepotError:
        return error(Messages.PROFILE_ARCHIVE_INVALID, filename=filename, detail=detail)

    def keep(member: Member, chunks: Iterator[bytes]) -> None:
        label = member.file
        try:
            itype = parse_image_type(str(label.get("type", "")), default=None)
            name = clean_filename(str(label.get("name", "")))
        except OsdepotError:
            raise ContentError(f"the manifest gives {member.path} no valid type and name") from None
        old_id = str(label.get("id") or name)
        same = [f for f in cat.find_files_by_digest(member.sha256) if f.image_type is itype]
        if same:  # held already: verified as it streams by, not stored twice
            for _ in chunks:
                pass
            ids[old_id] = same[0].id
            return
        family = FAMILIES.get(str(label.get("os") or ""))
        staging = blobs.create_staging(member.size)
        try:
            for chunk in chunks:
                staging.write(chunk)
            staging.finish()
            checked = inspect_content(
                staging.reader(),
                itype,
                family,
                name,
                s.osinfo_path or None,
                s.content_check_cpu_seconds or None,
            )
            if checked.error is not None:
                raise ContentError(
                    f"{member.path} is not a valid {itype.value} file: "
                    f"{checked.error.render()['explanation']}"
                )
            key = blobs.commit(staging)
        except BaseException:
            staging.abort()
            raise
        kept.append(key)
        new_id = old_id
        attempt = 0
        while new_id in taken or cat.file_id_exists(new_id):
            attempt += 1
            new_id = make_file_id(name, now, attempt)
        taken.add(new_id)
        ids[old_id] = new_id
        new.append(
            StoredFile(
                id=new_id,
                image_type=itype,
                name=name,
                size=member.size,
                sha256=member.sha256,
                blob_key=key,
                imported_by=user.name,
                imported_at=now,
                job_id=job_id,
                os=str(label.get("os") or "") or None,
                osrelease=str(label.get("osrelease") or "") or None,
                description=str(label.get("description") or "")[:2000],
                image_name=str(label.get("imageName") or "") or None,
                checksums={"sha256": member.sha256},
                version=str(label.get("version") or "")[:64],
            )
        )

    try:
        try:
            archive = read_archive(reader, keep)
        except ContentError as exc:
            raise refuse(exc.detail) from None
        result = _profile_from(ctx, archive.definition, ids, new, user, now, refuse)
    except BaseException:
        for key in kept:
            blobs.delete(key)
        raise
    return result, kept


def _profile_from(
    ctx: Context,
    d: dict[str, Any],
    ids: dict[str, str],
    new: list[StoredFile],
    user: User,
    now: float,
    refuse: Callable[[str], OsdepotError],
) -> ProfileImport:
    """The profile an archive's definition describes, on this repository's image."""
    spec, img = d["profile"], d["osImage"]
    image_id, name = str(img.get("id", "")), str(spec.get("name", ""))
    image = ctx.catalog.get_image(image_id)
    if image is None:
        medium = f"{img.get('name', '?')} ({img.get('fileName', '?')}, SHA-256 {img.get('sha256')})"
        raise error(
            Messages.BASE_IMAGE_MISSING,
            image_id=image_id,
            profile=spec.get("id", name),
            medium=medium,
            detail=f"The archive holds a profile of {medium}.",
        )
    mine = ctx.catalog.get_file(image.file_id)
    if mine is not None and img.get("sha256") and mine.sha256 != img["sha256"]:
        raise refuse(
            f"the profile was made for the medium with SHA-256 {img['sha256']}; OS image "
            f"{image_id} here was imported from another medium (SHA-256 {mine.sha256})"
        )
    base = ctx.catalog.find_profiles([str(spec.get("baseProfile", ""))])
    predefined = [p for p in image.profiles if p.profile == spec.get("profile") and not p.custom]
    if not base and not predefined:
        raise refuse(f"OS image {image_id} has no {spec.get('profile')!r} profile to build on")
    try:
        name = check_profile_name(name)
        listed = parse_options(d.get("customizationOptions"))
    except OsdepotError as exc:
        raise refuse(f"profile.json: {exc.render()['explanation']}") from None
    kind = os_kind(image.os)
    by_id = {f.id: f for f in new}
    file_ids: list[str] = []
    for group, old in listed:
        if old not in ids:
            raise refuse(f"profile.json names the file {old}, which the archive does not hold")
        fid = ids[old]
        f = by_id.get(fid) or ctx.catalog.get_file(fid)
        if f is None:  # the repository's copy of it, deleted since it was found
            raise deleted_just_now(fid)
        if kind is not None:
            try:
                check_file_for(kind, group, fid, f.image_type, f.os)
            except OsdepotError as exc:
                raise refuse(exc.render()["explanation"]) from None
        file_ids.append(fid)
    profile = Profile(
        id=custom_profile_id(image.id, image.arch, name),
        image_id=image.id,
        name=name,
        profile=str(spec.get("profile", "")),
        type="custom",
        description=str(spec.get("description", ""))[:2000],
        base_profile=base[0].id if base else predefined[0].id,
        file_ids=tuple(file_ids),
        created_by=user.name,
        created_at=now,
    )
    if ctx.catalog.find_profiles([profile.id]):
        raise error(Messages.ALREADY_EXISTS, what="Profile", name=profile.id)
    unused = sorted(set(ids) - {old for _g, old in listed})
    if unused:
        raise refuse(f"it holds the file {unused[0]}, which profile.json does not use")
    return ProfileImport(tuple(new), profile)
