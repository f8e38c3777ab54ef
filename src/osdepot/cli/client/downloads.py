"""``osdepot download`` (resuming after a cut) and ``osdepot link``."""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import httpx

from osdepot.cli.client.common import CHUNK, FAILED, OK, CliError
from osdepot.cli.client.http import Api, unreachable
from osdepot.cli.client.imports import follow_job, report_job
from osdepot.cli.client.profiles import Profile
from osdepot.cli.client.progress import Progress


def _api(args: argparse.Namespace) -> Api:
    return Api(Profile.load(args.profile), args.profile)


def _image_file(api: Api, ident: str) -> str | None:
    """The file id of OS image ``ident``, or None when no image has that id."""
    listing = api.request("GET", "/osImages")
    for item in listing.get("items", []):
        if item.get("id") == ident:
            return str(item.get("fileId"))
    return None


def _name_from(disposition: str, fallback: str) -> str:
    for part in disposition.split(";"):
        key, _, value = part.strip().partition("=")
        if key == "filename*" and value.lower().startswith("utf-8''"):
            return unquote(value[7:])
    return fallback


def cmd_download(args: argparse.Namespace) -> int:
    api = _api(args)
    try:
        return _download(api, args)
    finally:
        api.close()


def _download(api: Api, args: argparse.Namespace) -> int:
    file_id = args.id
    url = f"/files/osImages/{quote(file_id, safe='')}"
    try:
        head = api.http.head(url)
        if head.status_code == 404:
            found = _image_file(api, args.id)
            if found is not None:  # an OS image id: its ISO
                file_id, url = found, f"/files/osImages/{quote(found, safe='')}"
                head = api.http.head(url)
    except httpx.HTTPError as exc:
        raise unreachable(api.profile.url, exc) from None
    if head.status_code != 200:
        api.request("GET", url)  # the server's message for the refusal
        raise CliError(f"osdepot: HTTP {head.status_code} for {args.id}", FAILED)
    size = int(head.headers["content-length"])
    etag = head.headers.get("etag", "")
    name = Path(_name_from(head.headers.get("content-disposition", ""), file_id)).name
    out = Path(args.output) if args.output else Path(name)
    part = out.with_name(out.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    if have > size:
        have = 0
    headers: dict[str, str] = {}
    if have:
        headers = {"Range": f"bytes={have}-", "If-Range": etag}
    bar = Progress(out.name, size, sys.stderr, enabled=not args.quiet)
    try:
        with api.http.stream(
            "GET", url, headers=headers, timeout=httpx.Timeout(60.0, connect=15.0)
        ) as r:
            if r.status_code == 416 and have == size:
                pass  # everything is here already
            elif r.status_code == 206 and r.headers.get("content-range", "").startswith(
                f"bytes {have}-"
            ):
                _write(r, part, "ab", have, bar)
            elif r.status_code == 200:
                if have:
                    print(
                        f"osdepot: {out.name} changed on the server; starting over", file=sys.stderr
                    )
                _write(r, part, "wb", 0, bar)
            else:
                r.read()
                api.answer(r)
                raise CliError(f"osdepot: unexpected answer HTTP {r.status_code}", FAILED)
    except httpx.HTTPError as exc:
        bar.finish()
        raise CliError(
            f"osdepot: the download of {out.name} was cut ({exc}); run the same command "
            f"again to go on from byte {part.stat().st_size if part.exists() else 0}",
            FAILED,
        ) from None
    bar.finish()
    return _check(part, out, size, etag)


def _write(r: Any, part: Path, mode: str, have: int, bar: Progress) -> None:
    with part.open(mode) as f:
        for chunk in r.iter_bytes(CHUNK):
            f.write(chunk)
            have += len(chunk)
            bar.update(have)


def _check(part: Path, out: Path, size: int, etag: str) -> int:
    """The downloaded bytes against the file's SHA-256 (its ETag), then in place."""
    if part.stat().st_size != size:
        raise CliError(
            f"osdepot: {part} has {part.stat().st_size} of {size} bytes; run the command "
            "again to go on",
            FAILED,
        )
    digest = hashlib.sha256()
    with part.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    want = etag.strip('"')
    if want and digest.hexdigest() != want:
        part.unlink()
        raise CliError(
            f"osdepot: the downloaded bytes do not match the file's SHA-256 ({want}); "
            "the partial download was removed, run the command again",
            FAILED,
        )
    part.replace(out)
    print(f"SHA256 {digest.hexdigest()}  {out} (verified)")
    return OK


def cmd_link(args: argparse.Namespace) -> int:
    api = _api(args)
    try:
        body = {"expiresIn": args.expires} if args.expires else {}
        image_file = _image_file(api, args.id)
        if image_file is not None and not args.iso:
            answer = api.request("POST", f"/osImages/{quote(args.id, safe='')}/links", json=body)
        else:
            target = image_file or args.id
            answer = api.request(
                "POST", f"/files/osImages/{quote(target, safe='')}/links", json=body
            )
    finally:
        api.close()
    print(answer["url"])
    what = "the installation tree" if answer.get("tree") else "the file"
    print(
        f"(a link to {what}; valid until {answer['expires']}; id {answer['id']})", file=sys.stderr
    )
    return OK


def cmd_export(args: argparse.Namespace) -> int:
    """Export a customised profile: the export job, followed; then the archive
    downloaded to ``-o`` (and/or written to a remote server by the server itself)."""
    api = _api(args)
    try:
        params = {}
        if args.server:
            params = {"serverId": args.server, "path": args.path or ""}
        answer = api.request("GET", f"/osImages/{quote(args.profile_id, safe='')}", params=params)
        job_id = str(answer.get("jobId") or answer.get("jobID"))
        job = follow_job(api, job_id, "export", args.quiet, sys.stderr)
        if job.get("status") != "Complete":
            return report_job(job, f"export of {args.profile_id}")
        if args.output:
            args.id = str(job.get("fileId"))
            code = _download(api, args)
            if code != OK:
                return code
        return report_job(job, f"export of {args.profile_id}")
    finally:
        api.close()
