"""What the repository holds: files, OS images and their profiles, the atomic
commit of an import, deletion, usage."""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from osdepot.domain.jobs import JobStatus
from osdepot.domain.records import (
    OsImage,
    Profile,
    ProfileImport,
    StoredFile,
    Usage,
    UserHolding,
)
from osdepot.errors import Duplicate, HeldBy, InUse, Missing, NotRunning, OsdepotException
from osdepot.ports import Admit
from osdepot.storage.catalog.base import admit_in, bump, holding_in, job_event, usage_in
from osdepot.storage.catalog.jobs import JobsCatalog
from osdepot.storage.catalog.profiles import (
    file_record,
    holders,
    insert_file,
    insert_profile,
    make_profile,
    profile_file_ids,
)
from osdepot.storage.schema import (
    files,
    hosts,
    jobs,
    os_images,
    profiles,
    repo_state,
)


class RepositoryCatalog(JobsCatalog):
    """The repository part of :class:`osdepot.storage.catalog.SqlCatalog`; an import's
    commit also finishes its job, in the same transaction."""

    # -- repository ----------------------------------------------------------------

    def commit_import(
        self,
        job_id: int,
        file: StoredFile,
        image: OsImage | None,
        now: float,
        message: dict[str, object],
        profile: ProfileImport | None = None,
        admit: Admit | None = None,
    ) -> None:
        try:
            with self._write() as c:
                admit_in(c, file.imported_by, admit)
                insert_file(c, file)
                if image is not None:
                    c.execute(
                        insert(os_images).values(
                            id=image.id,
                            name=image.name,
                            description=image.description,
                            os=image.os,
                            osrelease=image.osrelease,
                            file_id=image.file_id,
                            created_at=image.created_at,
                            version=image.version,
                            arch=image.arch,
                            osinfo_id=image.osinfo_id,
                            build=image.build,
                            details=json.dumps(image.details),
                        )
                    )
                    for p in image.profiles:
                        insert_profile(c, p)
                if profile is not None:
                    for f in profile.files:
                        insert_file(c, f)
                    insert_profile(c, profile.profile)
                n = c.execute(
                    update(jobs)
                    .where(jobs.c.id == job_id, jobs.c.status == JobStatus.RUNNING.value)
                    .values(
                        status=JobStatus.COMPLETE.value,
                        end_time=now,
                        percentage=100,
                        bytes_received=file.size,
                        file_id=file.id,
                        message=json.dumps(message),
                    )
                ).rowcount
                if n != 1:
                    raise _NotCommitted()
                bump(c)  # last (base.bump)
        except _NotCommitted:
            job = self.get_job(job_id)
            raise NotRunning(job_id, job.cancelled_by if job else None) from None
        except IntegrityError:
            if image is not None and self.get_image(image.id) is not None:
                raise Duplicate("image", image.id) from None
            if profile is not None and self.find_profiles([profile.profile.id]):
                raise Duplicate("profile", profile.profile.id) from None
            if profile is not None and self.get_image(profile.profile.image_id) is None:
                raise Missing([profile.profile.image_id]) from None
            if profile is not None:
                brought = {file.id, *(f.id for f in profile.files)}
                ids = [i for i in profile.profile.file_ids if i not in brought]
                gone = [i for i in ids if not self.file_id_exists(i)]
                if gone:  # a file it reuses, deleted since it was found
                    raise Missing(gone) from None
                taken = [f.id for f in profile.files if self.file_id_exists(f.id)]
                if taken:  # a file it brings, added by another import meanwhile
                    raise Duplicate("file", taken[0]) from None
            raise Duplicate("file", file.id) from None
        else:
            job_event(job_id, JobStatus.COMPLETE, message)

    _GENERATION = select(repo_state.c.generation)

    def generation(self) -> int:
        """Raised by every import and delete: equal numbers mean equal contents."""
        with self._read_statement() as c:
            return int(c.execute(self._GENERATION).scalar_one())

    def file_id_exists(self, file_id: str) -> bool:
        with self._read_statement() as c:
            return c.execute(select(files.c.id).where(files.c.id == file_id)).first() is not None

    _file = staticmethod(file_record)

    def get_file(self, file_id: str) -> StoredFile | None:
        with self._read_statement() as c:
            row = c.execute(select(files).where(files.c.id == file_id)).mappings().first()
        return self._file(row) if row else None

    def list_files(self) -> list[StoredFile]:
        with self._read() as c:
            rows = c.execute(select(files).order_by(files.c.imported_at, files.c.id)).mappings()
            return [self._file(r) for r in rows]

    def _images(self, c: Connection, image_id: str | None = None) -> list[OsImage]:
        q = select(os_images).order_by(os_images.c.id)
        pq = select(profiles).order_by(profiles.c.id)
        if image_id is not None:
            q = q.where(os_images.c.id == image_id)
            pq = pq.where(profiles.c.image_id == image_id)
        by_image: dict[str, list[Profile]] = {}
        held = profile_file_ids(c)
        for r in c.execute(pq).mappings():
            by_image.setdefault(r["image_id"], []).append(make_profile(r, held.get(r["id"], ())))
        out = []
        for r in c.execute(q).mappings():
            d = dict(r)
            d["details"] = json.loads(d["details"] or "{}")
            out.append(OsImage(**d, profiles=tuple(by_image.get(r["id"], ()))))
        return out

    def get_image(self, image_id: str) -> OsImage | None:
        with self._read() as c:
            found = self._images(c, image_id)
        return found[0] if found else None

    def list_images(self) -> list[OsImage]:
        with self._read() as c:
            return self._images(c)

    def find_profiles(self, ids: Sequence[str]) -> list[Profile]:
        with self._read() as c:
            rows = c.execute(
                select(profiles).where(profiles.c.id.in_(list(ids))).order_by(profiles.c.id)
            ).mappings()
            held = profile_file_ids(c, ids)
            return [make_profile(r, held.get(r["id"], ())) for r in rows]

    def delete_objects(self, ids: Sequence[str]) -> list[str]:
        """Delete OS images (with their profiles and file), profiles and files in one
        transaction; the blob keys to remove. Raises Missing (and deletes nothing)
        when an id names nothing, HeldBy when a customised profile that stays holds a
        file, InUse when a deployment runs from a profile that would go."""
        wanted = list(dict.fromkeys(ids))
        with self._write() as c:
            img_rows = {
                r.id: r
                for r in c.execute(
                    select(os_images.c.id, os_images.c.file_id).where(os_images.c.id.in_(wanted))
                )
            }
            prof_rows = {
                r.id: r
                for r in c.execute(
                    select(profiles.c.id, profiles.c.image_id).where(profiles.c.id.in_(wanted))
                )
            }
            file_rows = {
                r.id: r
                for r in c.execute(
                    select(files.c.id, files.c.blob_key).where(files.c.id.in_(wanted))
                )
            }
            unknown = [
                i for i in wanted if i not in img_rows and i not in prof_rows and i not in file_rows
            ]
            if unknown:
                raise Missing(unknown)
            file_ids = set(file_rows)
            for r in img_rows.values():
                file_ids.add(r.file_id)
            # customised profiles that go: those named, and those of images that go
            going = set(prof_rows) | {
                r.id
                for r in c.execute(
                    select(profiles.c.id).where(profiles.c.image_id.in_(list(img_rows)))
                )
            }
            held = holders(c, sorted(file_ids), sorted(going))
            if held:
                raise HeldBy(held)
            # An OS image's own file goes with the image; deleting that file directly
            # deletes the image too.
            img_of_files = [
                r.id
                for r in c.execute(
                    select(os_images.c.id).where(os_images.c.file_id.in_(list(file_ids)))
                )
            ]
            of_images = select(profiles.c.id).where(profiles.c.image_id.in_(img_of_files))
            profiles_going = list(prof_rows) + [r.id for r in c.execute(of_images)]
            c.execute(delete(profiles).where(profiles.c.id.in_(profiles_going)))
            # A deployment from a profile that goes (or from its image or medium): after
            # the rows are deleted, so that one whose start (begin_deploys, which reads
            # its profile's row FOR SHARE) committed meanwhile is seen here, and one
            # that starts later finds its profile gone.
            deploying = c.execute(
                select(jobs.c.id)
                .select_from(hosts.join(jobs, jobs.c.id == hosts.c.deploy_job))
                .where(
                    hosts.c.deploy_profile.in_(profiles_going),
                    jobs.c.status == JobStatus.RUNNING.value,
                )
            ).first()
            if deploying is not None:
                raise InUse(int(deploying[0]))
            c.execute(delete(os_images).where(os_images.c.id.in_(img_of_files)))
            # FOR UPDATE (PostgreSQL): a change of a file's content in progress is waited
            # for, so the keys are those the rows hold when they go
            keys = [
                r.blob_key
                for r in c.execute(
                    select(files.c.blob_key).where(files.c.id.in_(list(file_ids))).with_for_update()
                )
            ]
            c.execute(delete(files).where(files.c.id.in_(list(file_ids))))
            bump(c)
        return keys

    def usage(self) -> Usage:
        with self._read() as c:
            return usage_in(c)

    def user_holding(self, user_name: str, exclude_job: int | None = None) -> UserHolding:
        with self._read_statement() as c:
            return holding_in(c, user_name, exclude_job)

    def job_counts(self) -> dict[str, int]:
        with self._read_statement() as c:
            rows = c.execute(select(jobs.c.status, func.count()).group_by(jobs.c.status)).all()
        counts = {s.value: 0 for s in JobStatus}
        counts.update({str(r[0]): int(r[1]) for r in rows})
        return counts

    def blob_keys(self) -> set[str]:
        with self._read() as c:
            return {r[0] for r in c.execute(select(files.c.blob_key))}


class _NotCommitted(OsdepotException):
    """The job changed under the commit's transaction (rolls it back)."""
