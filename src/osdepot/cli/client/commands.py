"""The commands: login, logout, images, import, tasks, cancel, delete, servers."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

import httpx

from osdepot.cli.client.common import CHUNK, FAILED, OK, TERMINAL, USAGE, CliError
from osdepot.cli.client.http import Api, _messages, _password, _verify, unreachable
from osdepot.cli.client.multipart import MultipartUpload
from osdepot.cli.client.profiles import Profile
from osdepot.cli.client.progress import Progress, human
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


def cmd_login(args: argparse.Namespace) -> int:
    url = args.url.rstrip("/")
    if not url.startswith(("https://", "http://")):
        url = "https://" + url
    if not args.user and not sys.stdin.isatty():
        raise CliError("osdepot: no terminal to ask for the user name on; give --user NAME")
    try:
        user = args.user or input("User: ").strip()
    except EOFError:
        raise CliError("osdepot: no user name given; give --user NAME") from None
    password = _password(args)
    verify = _verify(args)
    try:
        with httpx.Client(verify=verify, timeout=30, trust_env=False) as c:
            r = c.post(url + "/sessions", json={"UserId": user, "password": password})
    except httpx.HTTPError as exc:
        raise unreachable(url, exc) from None
    if r.status_code != 200:
        try:
            body = r.json()
        except ValueError:
            body = None
        raise CliError(_messages(body) or f"osdepot: login failed: HTTP {r.status_code}", FAILED)
    session, csrf = r.cookies.get("_sessionId"), r.cookies.get("csrf")
    if not session or not csrf:
        raise CliError("osdepot: the server answered without a session cookie", FAILED)
    p = Profile(url, user, session, csrf, verify).save(args.profile)
    print(f"Logged in to {url} as {user} (profile {args.profile}, kept in {p})")
    return OK


def _api(args: argparse.Namespace) -> Api:
    return Api(Profile.load(args.profile), args.profile)


def cmd_logout(args: argparse.Namespace) -> int:
    path = Profile.path(args.profile)
    api = _api(args)
    try:
        with contextlib.suppress(CliError):
            api.request("DELETE", "/sessions")
    finally:
        api.close()
    path.unlink(missing_ok=True)
    print(f"Logged out (profile {args.profile})")
    return OK


def _table(rows: list[list[str]], head: list[str]) -> None:
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def cmd_images(args: argparse.Namespace) -> int:
    api = _api(args)
    try:
        data = api.request("GET", "/osImages")
    finally:
        api.close()
    if args.json:
        print(json.dumps(data, indent=2))
        return OK
    rows = []
    for img in data.get("items", []):
        rows.append(
            [
                "OS",
                img.get("id", ""),
                img.get("name", ""),
                human(img["size"]) if img.get("size") else "",
                (img.get("sha256") or "")[:16],
                f"{len(img.get('profiles', []))} profiles",
            ]
        )
    for group in LISTING_GROUPS:
        for f in data.get(group.key, []):
            rows.append(
                [
                    f.get("type") or group.types[0].value,
                    f.get("id", ""),
                    f.get("name", ""),
                    human(f["size"]) if f.get("size") is not None else "",
                    (f.get("sha256") or "")[:16],
                    f.get("os", ""),
                ]
            )
    if not rows:
        print("The repository is empty.")
        return OK
    _table(rows, ["TYPE", "ID", "NAME", "SIZE", "SHA256", ""])
    return OK


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


def _follow(
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


def _report(job: dict[str, Any], what: str) -> int:
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
    job = _follow(api, job_id, path.name, True, sys.stderr)
    if job.get("status") == "Complete" and algo:
        print(f"{algo.upper()} {upload.digest}  {path.name} (verified by the server)")
    code = _report(job, f"import of {path.name}")
    if code == OK and isinstance(body, dict) and body.get("imageId"):
        print(f"OS image: {body['imageId']}")
    return code


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
    job = _follow(api, job_id, name, args.quiet, sys.stderr)
    return _report(job, f"import of {args.path}")


def _task_rows(jobs: list[dict[str, Any]]) -> list[list[str]]:
    return [
        [
            str(j.get("id", "")),
            str(j.get("status", "")),
            f"{j.get('percentage', 0)}%",
            str(j.get("imageType", "")),
            str(j.get("fileName", "")),
            str(j.get("createdBy", "")),
            str(j.get("messageDisplay", ""))[:80],
        ]
        for j in jobs
    ]


def cmd_tasks(args: argparse.Namespace) -> int:
    api = _api(args)
    path = "/tasks/" + ",".join(args.ids) if args.ids else "/tasks"
    head = ["JOB", "STATUS", "DONE", "TYPE", "FILE", "BY", "MESSAGE"]
    try:
        while True:
            jobs = api.request("GET", path, params={"compact": "true"})
            if args.json:
                print(json.dumps(jobs, indent=2))
            elif jobs:
                _table(_task_rows(jobs), head)
            else:
                print("No jobs.")
            open_jobs = [j for j in jobs if j.get("status") not in TERMINAL]
            if not args.watch or not open_jobs:
                return OK
            time.sleep(args.interval)
            print()
    except KeyboardInterrupt:
        return OK
    finally:
        api.close()


def cmd_cancel(args: argparse.Namespace) -> int:
    api = _api(args)
    try:
        jobs = api.request("PUT", "/tasks", json={"action": "cancel", "list": args.ids})
    finally:
        api.close()
    if isinstance(jobs, list):
        _table(_task_rows(jobs), ["JOB", "STATUS", "DONE", "TYPE", "FILE", "BY", "MESSAGE"])
    return OK


def cmd_delete(args: argparse.Namespace) -> int:
    api = _api(args)
    try:
        api.request("DELETE", "/osImages/" + ",".join(quote(i, safe="") for i in args.ids))
    finally:
        api.close()
    print("Deleted " + ", ".join(args.ids))
    return OK


def _server_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for opt, key in (
        ("name", "displayName"),
        ("protocol", "protocol"),
        ("address", "address"),
        ("port", "port"),
        ("username", "username"),
        ("key_type", "keyType"),
        ("key_comment", "keyComment"),
    ):
        value = getattr(args, opt, None)
        if value is not None:
            body[key] = value.upper() if key == "protocol" else value
    if getattr(args, "password_stdin", False):
        body["password"] = sys.stdin.readline().rstrip("\r\n")
    return body


def _print_server(s: dict[str, Any]) -> None:
    for key in ("serverId", "displayName", "protocol", "address", "port", "username", "keyType"):
        if s.get(key) not in (None, ""):
            print(f"{key + ':':<13} {s[key]}")
    if s.get("serverPublicKey"):
        print(f"publicKey:    {s['serverPublicKey']}")


def cmd_servers(args: argparse.Namespace) -> int:
    api = _api(args)
    try:
        if args.action == "list":
            data = api.request("GET", "/osImages/remoteFileServers")
            servers = data.get("serverList", [])
            if args.json:
                print(json.dumps(servers, indent=2))
            elif not servers:
                print("No remote file servers.")
            else:
                _table(
                    [
                        [
                            str(s.get("serverId")),
                            str(s.get("displayName")),
                            str(s.get("protocol")),
                            f"{s.get('address')}:{s.get('port')}",
                            str(s.get("username") or ""),
                        ]
                        for s in servers
                    ],
                    ["ID", "NAME", "PROTOCOL", "ADDRESS", "USER"],
                )
        elif args.action == "show":
            _print_server(api.request("GET", f"/osImages/remoteFileServers/{args.id}"))
        elif args.action == "add":
            _print_server(
                api.request("POST", "/osImages/remoteFileServers", json=_server_body(args))
            )
        elif args.action == "edit":
            current = api.request("GET", f"/osImages/remoteFileServers/{args.id}")
            body = {
                k: current[k]
                for k in ("displayName", "protocol", "address", "port", "username")
                if current.get(k) not in (None, "")
            }
            body.update(_server_body(args))
            _print_server(api.request("PUT", f"/osImages/remoteFileServers/{args.id}", json=body))
        elif args.action == "delete":
            api.request("DELETE", f"/osImages/remoteFileServers/{args.id}")
            print(f"Deleted remote file server {args.id}")
    finally:
        api.close()
    return OK
