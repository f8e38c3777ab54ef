"""``osdepot import``: an upload checked here first (type, OS, name; a stored release or
SHA-256 refused before a byte is sent), or a pull from a remote file server; either
way the job is followed to its end."""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import httpx

from osdepot.cli.client.common import CHUNK, FAILED, OK, TERMINAL, USAGE, CliError
from osdepot.cli.client.http import Api, _messages
from osdepot.cli.client.multipart import MultipartUpload
from osdepot.cli.client.profiles import Profile
from osdepot.cli.client.progress import Progress
from osdepot.cli.client.resumable import TUS, ResumableUpload, UploadState
from osdepot.content.inspect import inspect_path, type_from_name
from osdepot.domain.images import (
    LISTING_GROUPS,
    ImageType,
    check_extension,
    image_id_for,
    parse_image_type,
    resolve_os,
)
from osdepot.errors import OsdepotError


def _api(args: argparse.Namespace) -> Api:
    return Api(Profile.load(args.profile), args.profile)


def _query(**params: str | None) -> dict[str, str]:
    return {k: v for k, v in params.items() if v}


def _upload_params(args: argparse.Namespace, job_id: str, itype: ImageType) -> dict[str, str]:
    """The query of POST /files/osImages, for an upload and a remote import alike."""
    return _query(
        jobId=job_id,
        imageType=itype.value,
        os=args.os,
        imageName=args.name,
        osrelease=args.osrelease,
        description=args.description,
    )


def _drop_job(api: Api, job_id: str) -> None:
    """Cancel and remove a job that will not get its file (best effort: the import
    already failed, and its refusal is what the user needs to see)."""
    with contextlib.suppress(CliError):
        api.request("PUT", "/tasks", json={"action": "cancel", "list": [job_id]})
        api.request("DELETE", f"/tasks/{job_id}")


#: Seconds a followed job may go without any change (status, bytes, percentage) before
#: the client stops waiting for it (the job goes on on the server).
FOLLOW_STALL_SECONDS = 600.0


def follow_job(
    api: Api,
    job_id: str,
    label: str,
    quiet: bool,
    err: TextIO,
    stall: float = FOLLOW_STALL_SECONDS,
    interval: float = 0.5,
) -> dict[str, Any]:
    """Poll the job until it ends, with a progress bar from the job's byte count. A job
    that shows no change for ``stall`` seconds is left to run: CliError (exit 1) naming
    the command that shows it."""
    bar: Progress | None = None
    seen: tuple[Any, ...] = ()
    changed = time.monotonic()
    while True:
        job = api.request("GET", f"/tasks/{job_id}", params={"compact": "true"})[0]
        state = (job.get("status"), job.get("bytesReceived"), job.get("percentage"))
        if state != seen:
            seen, changed = state, time.monotonic()
        elif time.monotonic() - changed > stall:
            if bar is not None:
                bar.finish()
            raise CliError(
                f"osdepot: job {job_id} showed no progress for {stall:g} s; it goes on on "
                f"the server (`osdepot tasks {job_id} --watch`, or `osdepot cancel {job_id}`)",
                FAILED,
            )
        total = job.get("fileSize") or 0
        if total and bar is None:
            bar = Progress(label, int(total), err, enabled=not quiet)
        if bar is not None:
            bar.update(int(job.get("bytesReceived") or 0))
        if job.get("status") in TERMINAL:
            if bar is not None:
                bar.finish()
            return dict(job)
        time.sleep(interval)


def report_job(job: dict[str, Any], what: str) -> int:
    status = job.get("status")
    text = _messages(job)
    if status == "Complete":
        print(f"{what}: {status} (job {job.get('id')})")
        if text:
            print(text)
        return OK
    print(f"osdepot: {what}: {status} (job {job.get('id')})", file=sys.stderr)
    if text:
        print(text, file=sys.stderr)
    return FAILED


def cmd_import(args: argparse.Namespace) -> int:
    remote = args.server is not None
    if remote == (args.file is not None):
        raise CliError("osdepot: give a FILE to upload, or --server ID --path P (not both)")
    if remote and not args.path:
        raise CliError("osdepot: --server needs --path, the file's path on that server")
    algo = None if args.checksum == "none" else args.checksum
    if args.checksum_value and not algo:
        raise CliError("osdepot: --checksum-value needs --checksum ALGORITHM (sha256, …)")
    api = _api(args)
    try:
        if remote:
            return _import_remote(api, args, algo)
        return _import_file(api, args, algo)
    finally:
        api.close()


def _image_type(given: str | None, filename: str) -> ImageType:
    """--type, or the type the file's name says when that is unambiguous."""
    if given:
        try:
            return parse_image_type(given)
        except OsdepotError as exc:
            raise local_refusal(exc, USAGE) from None
    guessed = type_from_name(filename)
    if guessed is None:
        raise CliError(
            f"osdepot: {filename}'s name does not say what it is; give --type "
            f"({', '.join(t.value for t in ImageType)})"
        )
    return guessed


def local_refusal(exc: OsdepotError, code: int = FAILED) -> CliError:
    """A refusal of the client's own checks, worded as the server would, in the
    command line's words."""
    return CliError(_messages({"messages": [exc.render()]}), code)


def _stored_already(api: Api, path: Path, itype: ImageType, family: Any, force: bool) -> str:
    """Ask the server before a byte is sent: an OS medium whose release is stored, or a
    file whose SHA-256 is, is refused (unless ``force``). Returns the file's SHA-256 when
    it was computed (for any type but OS), else ""."""
    listing = api.request("GET", "/osImages")
    if itype is ImageType.OS:
        result = inspect_path(path, itype, family, path.name, os.environ.get("OSDEPOT_OSINFO_PATH"))
        if not result.valid and result.error is not None and not force:
            refusal = local_refusal(result.error)
            raise CliError(
                f"{refusal}\n  (inspected here before sending; --force sends it anyway)", FAILED
            )
        media = result.os
        if media is not None and media.image_id and not force:
            builds = {i.get("id"): i.get("osBuildId") or "" for i in listing.get("items", [])}
            try:
                image_id_for(media.image_id, media.family, media.build, media.name, builds.get)
            except OsdepotError as exc:
                refusal = local_refusal(exc)
                raise CliError(f"{refusal}\n  (--force sends it anyway)", FAILED) from None
        return ""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    sha = digest.hexdigest()
    stored = [f for g in LISTING_GROUPS for f in listing.get(g.key, [])]
    stored += list(listing.get("items", []))
    same = [f for f in stored if f.get("sha256") == sha]
    if same and not force:
        first = same[0]
        raise CliError(
            f"osdepot: {path.name} is stored already as {first.get('id')} "
            f"({first.get('name') or first.get('fileName')}, the same SHA-256 {sha[:16]}…); "
            "--force stores a second copy",
            FAILED,
        )
    return sha


def _import_file(api: Api, args: argparse.Namespace, algo: str | None) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise CliError(f"osdepot: {path} is not a file")
    itype = _image_type(args.type, path.name)
    try:
        family = resolve_os(itype, args.os)
        check_extension(itype, family, path.name)
    except OsdepotError as exc:
        raise local_refusal(exc) from None  # before any job exists
    if not args.multipart:
        return _import_resumable(api, args, algo, path, itype, family)
    sha = _stored_already(api, path, itype, family, args.force)
    value = args.checksum_value or (sha if algo == "sha256" and sha else None)
    upload = MultipartUpload(path, algo, args.checksum_first, value)
    created = api.request(
        "POST",
        "/osImages",
        params={"imageType": itype.value},
        json={"Action": "Init", "fileSize": upload.size},
    )
    job_id = str(created["jobId"])
    bar = Progress(path.name, upload.size, sys.stderr, enabled=not args.quiet)
    params = _upload_params(args, job_id, itype)
    headers = {"Content-Type": upload.content_type, "Content-Length": str(upload.length())}
    try:
        r = api.http.post(
            "/files/osImages",
            params=params,
            content=upload.body(bar),
            headers=headers,
            timeout=httpx.Timeout(None, connect=15.0),
        )
    except httpx.HTTPError as exc:
        bar.finish()
        _drop_job(api, job_id)
        raise CliError(f"osdepot: the upload of {path.name} failed: {exc}", FAILED) from None
    bar.finish()
    try:
        body = api.answer(r)
    except CliError:
        # Refused before the job took the file: the job would wait for a file until it
        # expires, so it is dropped (and not listed as Cancelled without a reason).
        # Otherwise the job ended with the same message the answer carried.
        job = api.request("GET", f"/tasks/{job_id}", params={"compact": "true"})[0]
        if job.get("status") not in TERMINAL:
            _drop_job(api, job_id)
        raise
    job = follow_job(api, job_id, path.name, True, sys.stderr)
    if job.get("status") == "Complete" and algo:
        print(f"{algo.upper()} {upload.digest}  {path.name} (verified by the server)")
    code = report_job(job, f"import of {path.name}")
    if code == OK and isinstance(body, dict) and body.get("imageId"):
        print(f"OS image: {body['imageId']}")
    return code


def _import_resumable(
    api: Api, args: argparse.Namespace, algo: str | None, path: Path, itype: ImageType, family: Any
) -> int:
    """The file as a resumable upload (cli/client/resumable.py): a new one, or with
    ``--resume`` the one an earlier command left."""
    server = api.profile.url
    state = UploadState.load(server, path) if args.resume else None
    if args.resume and state is None:
        raise CliError(f"osdepot: no interrupted upload of {path} to {server} to resume", USAGE)
    value = args.checksum_value.strip().lower() if args.checksum_value else None
    if state is None:
        sha = _stored_already(api, path, itype, family, args.force)
        value = value or (sha if algo == "sha256" and sha else None)
        if args.checksum_first and algo and not value:
            value = _digest_of(path, algo)
        st = path.stat()
        created = api.request(
            "POST",
            "/osImages",
            params={"imageType": itype.value},
            json={"Action": "Init", "fileSize": st.st_size},
        )
        job_id = str(created["jobId"])
        meta = {"filename": path.name}
        if algo and value:
            meta |= {"checksumType": algo, "checksumValue": value}
        headers = {
            **TUS,
            "Upload-Length": str(st.st_size),
            "Upload-Metadata": ",".join(
                f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in meta.items()
            ),
        }
        try:
            r = api.http.post(
                "/files/osImages/uploads",
                params=_upload_params(args, job_id, itype),
                headers=headers,
            )
        except httpx.HTTPError as exc:
            _drop_job(api, job_id)
            raise CliError(f"osdepot: the upload of {path.name} failed: {exc}", FAILED) from None
        if r.status_code != 201:
            _drop_job(api, job_id)
            api.answer(r)
            raise CliError(f"osdepot: the upload could not be created (HTTP {r.status_code})")
        state = UploadState(
            server, r.headers["Location"], job_id, str(path.resolve()), st.st_size,
            st.st_mtime, algo, value if algo else None,
        )  # fmt: skip
        state.save()
        start = 0
    value = value or state.value
    bar = Progress(path.name, state.size, sys.stderr, enabled=not args.quiet)
    upload = ResumableUpload(api, state, bar, value_known=bool(value), retries=args.retries)
    if args.resume:
        try:
            start = upload.offset()
        except CliError:
            state.forget()  # finished, cancelled or expired: nothing left to resume
            raise
        bar.note(f"resuming at byte {start} of {state.size}")
    try:
        r = upload.run(start)
    finally:
        bar.finish()
    job_id = state.job
    try:
        body = api.answer(r)
    finally:
        state.forget()  # the upload ended, either way
    job = follow_job(api, job_id, path.name, True, sys.stderr)
    if job.get("status") == "Complete" and algo:
        digest = value or (upload.hasher.hexdigest() if upload.hasher is not None else "")
        print(f"{algo.upper()} {digest}  {path.name} (verified by the server)")
    code = report_job(job, f"import of {path.name}")
    if code == OK and isinstance(body, dict) and body.get("imageId"):
        print(f"OS image: {body['imageId']}")
    return code


def _digest_of(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _import_remote(api: Api, args: argparse.Namespace, algo: str | None) -> int:
    itype = _image_type(args.type, args.path.rsplit("/", 1)[-1])
    try:
        resolve_os(itype, args.os)
    except OsdepotError as exc:
        raise local_refusal(exc) from None
    created = api.request(
        "POST", "/osImages", params={"imageType": itype.value}, json={"Action": "Init"}
    )
    job_id = str(created["jobId"])
    body: dict[str, str] = {"serverId": str(args.server), "path": args.path}
    if args.checksum_value and algo:
        body["checksumType"], body["checksumValue"] = algo.upper(), args.checksum_value
    params = _upload_params(args, job_id, itype)
    try:
        api.request("POST", "/files/osImages", params=params, json=body)
    except CliError:
        _drop_job(api, job_id)  # refused before the job took the file
        raise
    name = args.path.rsplit("/", 1)[-1]
    print(f"Job {job_id}: importing {args.path} from server {args.server}", file=sys.stderr)
    job = follow_job(api, job_id, name, args.quiet, sys.stderr)
    return report_job(job, f"import of {args.path}")
