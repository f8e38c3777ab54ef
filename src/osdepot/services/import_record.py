"""The commit of an import: the catalog rows of the file (and of the OS image and its
profiles a medium adds, or of the profile an exported archive brings), the job's
message, and the job completed, in one catalog transaction."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from osdepot.content.media import MediaInfo
from osdepot.domain.images import ImageType, image_id_for
from osdepot.domain.names import make_file_id
from osdepot.domain.records import StoredFile
from osdepot.errors import Duplicate, Missing, NotRunning, error
from osdepot.messages import Messages
from osdepot.services.admission import commit_admission
from osdepot.services.downloads import deleted_just_now
from osdepot.services.image_entry import build_image

if TYPE_CHECKING:
    from osdepot.services.import_run import ImportRun


def record_import(run: ImportRun, key: str, checksums: dict[str, str], now: float) -> StoredFile:
    """Commit the import under a free file id. Two imports of one name in the same
    second may pick the same id; the one that commits second takes the next."""
    attempt = 0
    while True:
        file_id = make_file_id(run.filename, now, attempt)
        if run.ctx.catalog.file_id_exists(file_id):
            attempt += 1
            continue
        try:
            return _record(run, file_id, key, checksums, now)
        except Duplicate as exc:
            if exc.kind != "file" or exc.key != file_id or attempt >= 99:
                what = {"image": "OS image", "profile": "Profile"}.get(exc.kind, "File")
                raise error(Messages.ALREADY_EXISTS, what=what, name=exc.key) from None
            attempt += 1


def _record(
    run: ImportRun, file_id: str, key: str, checksums: dict[str, str], now: float
) -> StoredFile:
    p = run.params
    catalog = run.ctx.catalog
    family = run.family.name if run.family else None
    stored = StoredFile(
        id=file_id,
        image_type=run.itype,
        name=run.filename,
        size=run.received,
        sha256=checksums["sha256"],
        blob_key=key,
        imported_by=run.user.name,
        imported_at=now,
        job_id=run.job.id,
        os=family,
        osrelease=p.osrelease,
        description=p.description,
        image_name=p.image_name,
        checksums=checksums,
    )
    image = None
    if run.itype is ImageType.OS:
        assert run.media is not None
        image_id = _free_image_id(run, run.media)
        image = build_image(image_id, run.media, p.description, file_id, now)
        image.details["verified"] = run.verified
        run.image_id = image_id
        stored = replace(stored, os=run.media.family, osrelease=run.media.version)
    message = Messages.IMPORT_COMPLETE.render(
        {
            "filename": run.filename,
            "file_id": file_id,
            "size": run.received,
            "sha256": checksums["sha256"],
        }
    )
    if run.complete_message is not None:
        message = run.complete_message(stored, run.pushed)
    if run.profile_import is not None:
        made = run.profile_import.profile
        message["explanation"] += (
            f" It was added as customised profile {made.id} of OS image {made.image_id} "
            f"with {len(made.file_ids)} file(s), {len(run.profile_import.files)} of them "
            "new here."
        )
    if image is not None:
        message["explanation"] += (
            f" The medium was recognised as {image.name} ({image.arch or 'any'}) and "
            f"added as OS image {image.id} with {len(image.profiles)} profile(s)."
        )
        sources = run.verified.get("sources") or []
        if sources:
            message["explanation"] += (
                f" {run.verified.get('files', 0)} of its files were checked against "
                f"its {', '.join(sources)}."
            )
    added = stored.size  # the bytes the commit adds to the repository
    if run.profile_import is not None:
        added += sum(f.size for f in run.profile_import.files)
    try:
        catalog.commit_import(
            run.job.id,
            stored,
            image,
            now,
            message,
            run.profile_import,
            commit_admission(run.ctx, run.itype, added),
        )
    except Missing as exc:
        if run.profile_import and exc.keys[0] != run.profile_import.profile.image_id:
            raise deleted_just_now(exc.keys[0]) from None  # a file the profile reuses
        raise error(
            Messages.BASE_IMAGE_MISSING,
            image_id=exc.keys[0],
            profile=run.profile_import.profile.id if run.profile_import else "",
            medium=exc.keys[0],
            detail="It was deleted while the profile was being imported.",
        ) from None
    except NotRunning as exc:
        raise error(
            Messages.JOB_CANCELLED,
            job_id=run.job.id,
            user=exc.cancelled_by or "another request",
        ) from None
    return stored


def _free_image_id(run: ImportRun, media: MediaInfo) -> str:
    """The medium's image id (domain.images.image_id_for); 409 when its release
    is already in the repository."""
    assert media.image_id is not None
    catalog = run.ctx.catalog

    def stored_build(image_id: str) -> str | None:
        image = catalog.get_image(image_id)
        return None if image is None else (image.build or "")

    return image_id_for(media.image_id, media.family, media.build, media.name, stored_build)
