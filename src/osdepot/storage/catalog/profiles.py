"""Customised OS-image profiles: adding and changing them, the files they hold, and
the rows every profile and file insert shares with the import commit."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from osdepot.domain.images import ImageType
from osdepot.domain.records import Profile, StoredFile
from osdepot.errors import Duplicate, Missing
from osdepot.storage.catalog.base import Base, bump
from osdepot.storage.schema import files, os_images, profile_files, profiles


def file_record(row: Any) -> StoredFile:
    d = dict(row)
    d["image_type"] = ImageType(d["image_type"])
    d["checksums"] = json.loads(d["checksums"] or "{}")
    return StoredFile(**d)


def insert_file(c: Connection, f: StoredFile) -> None:
    c.execute(
        insert(files).values(
            id=f.id,
            image_type=f.image_type.value,
            name=f.name,
            os=f.os,
            osrelease=f.osrelease,
            description=f.description,
            image_name=f.image_name,
            size=f.size,
            sha256=f.sha256,
            checksums=json.dumps(f.checksums),
            blob_key=f.blob_key,
            imported_by=f.imported_by,
            imported_at=f.imported_at,
            job_id=f.job_id,
            version=f.version,
        )
    )


def insert_profile(c: Connection, p: Profile) -> None:
    c.execute(
        insert(profiles).values(
            id=p.id,
            image_id=p.image_id,
            name=p.name,
            profile=p.profile,
            type=p.type,
            description=p.description,
            base_profile=p.base_profile,
            created_by=p.created_by,
            created_at=p.created_at,
        )
    )
    _insert_profile_files(c, p.id, p.file_ids)


def _insert_profile_files(c: Connection, profile_id: str, file_ids: Sequence[str]) -> None:
    for n, fid in enumerate(file_ids):
        c.execute(insert(profile_files).values(profile_id=profile_id, file_id=fid, position=n))


def profile_file_ids(c: Connection, ids: Sequence[str] | None = None) -> dict[str, list[str]]:
    """Profile id → the ids of the files it holds, in order."""
    q = select(profile_files).order_by(profile_files.c.profile_id, profile_files.c.position)
    if ids is not None:
        q = q.where(profile_files.c.profile_id.in_(list(ids)))
    out: dict[str, list[str]] = {}
    for r in c.execute(q):
        out.setdefault(r.profile_id, []).append(r.file_id)
    return out


def make_profile(row: Any, file_ids: Sequence[str]) -> Profile:
    return Profile(**dict(row), file_ids=tuple(file_ids))


def holders(c: Connection, file_ids: Sequence[str], deleted: Sequence[str]) -> dict[str, list[str]]:
    """File id → the profiles (other than ``deleted``) that hold it."""
    out: dict[str, list[str]] = {}
    q = select(profile_files.c.file_id, profile_files.c.profile_id).where(
        profile_files.c.file_id.in_(list(file_ids)),
        profile_files.c.profile_id.not_in(list(deleted)),
    )
    for r in c.execute(q.order_by(profile_files.c.profile_id)):
        out.setdefault(r.file_id, []).append(r.profile_id)
    return out


class ProfilesCatalog(Base):
    """Customised profiles and changes to stored files' labels and contents."""

    def add_profile(self, profile: Profile, most: int = 0) -> None:
        """Add a customised profile; Duplicate when its id is taken, Missing when its
        OS image (``[profile.image_id]``) or a file it names is gone, Full when the
        image has ``most`` customised profiles."""
        image = select(os_images.c.id).where(os_images.c.id == profile.image_id)
        custom = (
            select(func.count())
            .select_from(profiles)
            .where(profiles.c.image_id == profile.image_id, profiles.c.type == "custom")
        )
        try:
            with self._write() as c:
                self._room(c, custom, most)
                if c.execute(image).first() is None:
                    raise Missing([profile.image_id])
                gone = self._missing_files(c, profile.file_ids)
                if gone:
                    raise Missing(gone)
                insert_profile(c, profile)
                bump(c)
        except IntegrityError:
            # PostgreSQL: the image's or a file's row deleted after the reads above
            with self._read_statement() as c:
                if c.execute(image).first() is None:
                    raise Missing([profile.image_id]) from None
                gone = self._missing_files(c, profile.file_ids)
            if gone:
                raise Missing(gone) from None
            raise Duplicate("profile", profile.id) from None

    def update_profile(
        self, profile_id: str, description: str | None, file_ids: Sequence[str] | None
    ) -> bool:
        """Change a customised profile's description and/or files; False when there is
        no such customised profile; Missing when a file it names is gone."""
        try:
            return self._update_profile(profile_id, description, file_ids)
        except IntegrityError:  # PostgreSQL: a file's row deleted after the check
            with self._read_statement() as c:
                raise Missing(self._missing_files(c, file_ids or ())) from None

    def _update_profile(
        self, profile_id: str, description: str | None, file_ids: Sequence[str] | None
    ) -> bool:
        with self._write() as c:
            # FOR UPDATE (PostgreSQL): another change of the profile in progress is
            # waited for; its file list then replaced whole, never merged with this one
            found = c.execute(
                select(profiles.c.id)
                .where(profiles.c.id == profile_id, profiles.c.type == "custom")
                .with_for_update()
            ).first()
            if found is None:
                return False
            if description is not None:
                c.execute(
                    update(profiles)
                    .where(profiles.c.id == profile_id)
                    .values(description=description)
                )
            if file_ids is not None:
                gone = self._missing_files(c, file_ids)
                if gone:
                    raise Missing(gone)
                c.execute(delete(profile_files).where(profile_files.c.profile_id == profile_id))
                _insert_profile_files(c, profile_id, file_ids)
            bump(c)
        return True

    def update_file(
        self,
        file_id: str,
        description: str | None = None,
        version: str | None = None,
        content: StoredFile | None = None,
    ) -> str | None:
        """Change a stored file's description, version and/or content (the size,
        digests and blob of ``content``). Returns the blob key the file no longer uses
        (or None); Missing when there is no such file."""
        with self._write() as c:
            # FOR UPDATE (PostgreSQL): a change or deletion of the file in progress is
            # waited for, so the key answered is the one this change replaces
            row = c.execute(
                select(files.c.blob_key).where(files.c.id == file_id).with_for_update()
            ).first()
            if row is None:
                raise Missing([file_id])
            values: dict[str, Any] = {}
            if description is not None:
                values["description"] = description
            if version is not None:
                values["version"] = version
            if content is not None:
                values.update(
                    size=content.size,
                    sha256=content.sha256,
                    checksums=json.dumps(content.checksums),
                    blob_key=content.blob_key,
                )
            if values:
                c.execute(update(files).where(files.c.id == file_id).values(**values))
                bump(c)
        return str(row.blob_key) if content is not None else None

    def find_files_by_digest(self, sha256: str) -> list[StoredFile]:
        with self._read() as c:
            rows = c.execute(select(files).where(files.c.sha256 == sha256)).mappings()
            return [file_record(r) for r in rows]

    @staticmethod
    def _missing_files(c: Connection, file_ids: Sequence[str]) -> list[str]:
        present = {
            r[0] for r in c.execute(select(files.c.id).where(files.c.id.in_(list(file_ids))))
        }
        return [f for f in file_ids if f not in present]
