"""The command-line client: ``osdepot login / images / import / tasks / servers / delete``.

It speaks only the LXCA OS-images REST API over HTTPS, so the same commands work against
osdepot and against a Lenovo XClarity Administrator. Sessions are kept per profile in
``$XDG_CONFIG_HOME/osdepot/profiles/<profile>.json`` (``~/.config`` by default), mode
0600: the session cookie and CSRF token, never the password.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import hashlib
import json
import os
import secrets
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

import httpx

from osdepot.errors import OsdepotException

TERMINAL = ("Complete", "Stopped", "Cancelled")
CHUNK = 1024 * 1024

# Exit codes: 0 done, 1 refused or failed (the server said why), 2 a usage or local
# problem (not logged in, no such file, cannot connect).
OK, FAILED, USAGE = 0, 1, 2


class CliError(OsdepotException):
    """A client command failed; ``code`` is its exit status."""

    def __init__(self, text: str, code: int = USAGE) -> None:
        super().__init__(text)
        self.code = code


# -- profiles ------------------------------------------------------------------------------


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "osdepot" / "profiles"


@dataclass
class Profile:
    url: str
    user: str
    session: str
    csrf: str
    #: True (system CAs), False (--insecure) or the path of a CA certificate
    verify: bool | str = True

    @staticmethod
    def path(name: str) -> Path:
        if not name or "/" in name or name.startswith("."):
            raise CliError(f"osdepot: {name!r} is not a valid profile name")
        return config_dir() / f"{name}.json"

    @classmethod
    def load(cls, name: str) -> Profile:
        p = cls.path(name)
        try:
            data = json.loads(p.read_text())
            return cls(**data)
        except FileNotFoundError:
            raise CliError(
                f"osdepot: not logged in (profile {name!r}); run `osdepot login URL` first"
            ) from None
        except (ValueError, TypeError) as exc:
            raise CliError(
                f"osdepot: the profile file {p} is damaged ({exc}); log in again"
            ) from None

    def save(self, name: str) -> Path:
        p = self.path(name)
        p.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(p.parent, 0o700)
        tmp = p.with_name(f".{p.name}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(asdict(self), f, indent=1)
        os.replace(tmp, p)
        return p


# -- HTTP --------------------------------------------------------------------------------


class Api:
    """An HTTP client bound to one profile's server and session."""

    def __init__(self, profile: Profile, profile_name: str) -> None:
        self.profile, self.name = profile, profile_name
        self.http = httpx.Client(
            base_url=profile.url,
            verify=profile.verify,
            timeout=httpx.Timeout(60.0, connect=15.0),
            headers={
                "Accept": "application/json",
                "Cookie": f"_sessionId={profile.session}; csrf={profile.csrf}",
                "X-Csrf-Token": profile.csrf,
            },
            trust_env=False,
        )

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kw: Any) -> Any:
        try:
            r = self.http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise CliError(f"osdepot: cannot reach {self.profile.url}: {exc}") from None
        return self.answer(r)

    def answer(self, r: httpx.Response) -> Any:
        if r.status_code == 401:
            raise CliError(
                f"osdepot: the session of profile {self.name!r} has ended; "
                f"run `osdepot login {self.profile.url}` again",
                FAILED,
            )
        try:
            body = r.json() if r.content else None
        except ValueError:
            body = None
        if r.status_code >= 400:
            raise CliError(_messages(body) or f"osdepot: HTTP {r.status_code}", FAILED)
        return body


def _messages(body: Any) -> str:
    """The server's messages, one per line: id, text, explanation, recovery."""
    msgs = body.get("messages") if isinstance(body, dict) else None
    lines = []
    for m in msgs or []:
        if isinstance(m, dict):
            lines.append(f"{m.get('id', '')} {m.get('text', '')}".strip())
            for key in ("explanation",):
                if m.get(key):
                    lines.append(f"  {m[key]}")
            rec = m.get("recovery")
            if isinstance(rec, dict) and rec.get("text"):
                lines.append(f"  {rec['text']}")
    return "\n".join(lines)


def _verify(args: argparse.Namespace) -> bool | str:
    if args.insecure:
        return False
    if args.ca_cert:
        ca = Path(args.ca_cert).resolve()
        if not ca.is_file():
            raise CliError(f"osdepot: {ca} is not a file")
        return str(ca)
    return True


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return getpass.getpass("Password: ")


# -- formatting ----------------------------------------------------------------------------


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError


def clock(seconds: float) -> str:
    if seconds != seconds or seconds < 0 or seconds > 360000:
        return "--:--"
    s = int(seconds + 0.5)
    return (
        f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )


class Progress:
    """A progress bar on a terminal; on anything else, a line at every 10 %."""

    def __init__(self, label: str, total: int, out: TextIO, enabled: bool = True) -> None:
        self.label, self.total, self.out, self.enabled = label, total, out, enabled
        self.tty = out.isatty()
        self.start = time.monotonic()
        self.last_draw = 0.0
        self.last_step = -1
        self.done = 0

    def update(self, done: int) -> None:
        self.done = done
        if not self.enabled:
            return
        now = time.monotonic()
        if self.tty:
            if now - self.last_draw >= 0.1 or done >= self.total:
                self.last_draw = now
                self.out.write("\r" + self.line(now))
                self.out.flush()
            return
        step = done * 10 // self.total if self.total else 10
        if step != self.last_step:
            self.last_step = step
            self.out.write(self.line(now) + "\n")
            self.out.flush()

    def line(self, now: float) -> str:
        elapsed = max(now - self.start, 1e-6)
        rate = self.done / elapsed
        pct = self.done * 100 / self.total if self.total else 100.0
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        width = 24
        fill = int(width * pct / 100)
        bar = "#" * fill + "-" * (width - fill)
        return (
            f"{self.label} {pct:5.1f}% [{bar}] {human(self.done)}/{human(self.total)} "
            f"{human(rate)}/s {clock(left)} left"
        )

    def finish(self) -> None:
        if self.enabled and self.tty:
            self.out.write("\n")
            self.out.flush()


# -- multipart upload ------------------------------------------------------------------------


def _part_head(boundary: str, name: str, filename: str | None = None) -> bytes:
    disp = f'form-data; name="{name}"'
    if filename is not None:
        safe = filename.replace("\\", "\\\\").replace('"', '\\"')
        disp += f'; filename="{safe}"'
        return (
            f"--{boundary}\r\nContent-Disposition: {disp}\r\n"
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
    return f"--{boundary}\r\nContent-Disposition: {disp}\r\n\r\n".encode()


class MultipartUpload:
    """The body of ``POST /files/osImages``, streamed from the file once.

    With a checksum algorithm, ``checksumType`` goes before the file (so the server
    hashes while it receives) and ``checksumValue``, computed while sending, after it.
    With ``value_first`` (``--checksum-first``), the file is read once beforehand and
    both fields go before it, for servers that read fields only before the file.
    """

    def __init__(self, path: Path, algo: str | None, value_first: bool = False) -> None:
        self.path, self.algo = path, algo
        self.size = path.stat().st_size
        self.boundary = "osdepot-" + secrets.token_hex(16)
        self.hasher = hashlib.new(algo) if algo else None
        self.sent = 0
        self.digest = ""
        self.value_first = value_first and algo is not None
        if self.value_first:
            assert self.hasher is not None
            with path.open("rb") as f:
                while chunk := f.read(CHUNK):
                    self.hasher.update(chunk)
            self.digest = self.hasher.hexdigest()
        b = self.boundary
        self.head = b""
        if algo:
            self.head += _part_head(b, "checksumType") + algo.upper().encode() + b"\r\n"
            if self.value_first:
                self.head += _part_head(b, "checksumValue") + self.digest.encode() + b"\r\n"
        self.head += _part_head(b, "uploadedfile", path.name)

    def _tail(self, value: str) -> bytes:
        b = self.boundary
        t = b"\r\n"
        if self.algo and not self.value_first:
            t += _part_head(b, "checksumValue") + value.encode() + b"\r\n"
        return t + f"--{b}--\r\n".encode()

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def length(self) -> int:
        digest = "0" * (hashlib.new(self.algo).digest_size * 2) if self.algo else ""
        return len(self.head) + self.size + len(self._tail(digest))

    def body(self, progress: Progress) -> Iterator[bytes]:
        yield self.head
        with self.path.open("rb") as f:
            while chunk := f.read(CHUNK):
                if self.hasher is not None and not self.value_first:
                    self.hasher.update(chunk)
                self.sent += len(chunk)
                yield chunk
                progress.update(self.sent)
        if self.sent != self.size:
            raise CliError(f"osdepot: {self.path} changed size while it was sent")
        if self.hasher is not None and not self.value_first:
            self.digest = self.hasher.hexdigest()
        yield self._tail(self.digest)


# -- commands --------------------------------------------------------------------------------


def cmd_login(args: argparse.Namespace) -> int:
    url = args.url.rstrip("/")
    if not url.startswith(("https://", "http://")):
        url = "https://" + url
    user = args.user or input("User: ").strip()
    password = _password(args)
    verify = _verify(args)
    try:
        with httpx.Client(verify=verify, timeout=30, trust_env=False) as c:
            r = c.post(url + "/sessions", json={"UserId": user, "password": password})
    except httpx.HTTPError as exc:
        raise CliError(f"osdepot: cannot reach {url}: {exc}") from None
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


GROUPS = (
    ("bootFiles", "BOOT"),
    ("deviceDrivers", "DUD"),
    ("bundleFiles", "BUNDLE"),
    ("installScriptFiles", "SCRIPT"),
    ("softwareFiles", "SOFTWARE"),
    ("unattendFiles", "UNATTEND"),
    ("configFiles", "CONFIG"),
    ("osProfileFiles", "OSPROFILE"),
)


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
    for key, kind in GROUPS:
        for f in data.get(key, []):
            rows.append(
                [
                    f.get("type") or kind,
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


def _upload_params(args: argparse.Namespace, job_id: str) -> dict[str, str]:
    """The query of POST /files/osImages, for an upload and a remote import alike."""
    return _query(
        jobId=job_id,
        imageType=args.type,
        os=args.os,
        imageName=args.name,
        osrelease=args.osrelease,
        description=args.description,
    )


def _cancel_quietly(api: Api, job_id: str) -> None:
    """Cancel a job that will not get its file (best effort: the import already failed)."""
    with contextlib.suppress(CliError):
        api.request("PUT", "/tasks", json={"action": "cancel", "list": [job_id]})


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
    api = _api(args)
    try:
        if remote:
            return _import_remote(api, args, algo)
        return _import_file(api, args, algo)
    finally:
        api.close()


def _import_file(api: Api, args: argparse.Namespace, algo: str | None) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise CliError(f"osdepot: {path} is not a file")
    upload = MultipartUpload(path, algo, args.checksum_first)
    created = api.request(
        "POST",
        "/osImages",
        params={"imageType": args.type},
        json={"Action": "Init", "fileSize": upload.size},
    )
    job_id = str(created["jobId"])
    bar = Progress(path.name, upload.size, sys.stderr, enabled=not args.quiet)
    params = _upload_params(args, job_id)
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
        _cancel_quietly(api, job_id)
        raise CliError(f"osdepot: the upload of {path.name} failed: {exc}", FAILED) from None
    bar.finish()
    try:
        body = api.answer(r)
    except CliError:
        # Refused before the job took the file (a wrong type or name): the job would
        # wait for a file until it expires, so it is cancelled. Otherwise the job ended
        # with the same message the answer carried.
        job = api.request("GET", f"/tasks/{job_id}", params={"compact": "true"})[0]
        if job.get("status") not in TERMINAL:
            _cancel_quietly(api, job_id)
        raise
    job = _follow(api, job_id, path.name, True, sys.stderr)
    if job.get("status") == "Complete" and algo:
        print(f"{algo.upper()} {upload.digest}  {path.name} (verified by the server)")
    code = _report(job, f"import of {path.name}")
    if code == OK and isinstance(body, dict) and body.get("imageId"):
        print(f"OS image: {body['imageId']}")
    return code


def _import_remote(api: Api, args: argparse.Namespace, algo: str | None) -> int:
    created = api.request(
        "POST", "/osImages", params={"imageType": args.type}, json={"Action": "Init"}
    )
    job_id = str(created["jobId"])
    body: dict[str, str] = {"serverId": str(args.server), "path": args.path}
    if args.checksum_value:
        if not algo:
            raise CliError("osdepot: --checksum-value needs --checksum ALGORITHM")
        body["checksumType"], body["checksumValue"] = algo.upper(), args.checksum_value
    params = _upload_params(args, job_id)
    api.request("POST", "/files/osImages", params=params, json=body)
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


# -- parser ----------------------------------------------------------------------------------


def add_commands(sub: Any) -> None:
    """Add the client's commands to ``osdepot``'s sub-command parser."""

    def profile(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--profile",
            default=os.environ.get("OSDEPOT_PROFILE", "default"),
            help="session profile (OSDEPOT_PROFILE; default 'default')",
        )

    lg = sub.add_parser("login", help="log in to an osdepot or LXCA server and keep the session")
    lg.add_argument("url", help="https://host[:port]")
    lg.add_argument("--user", help="user name (asked when absent)")
    lg.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    lg.add_argument(
        "--insecure", action="store_true", help="do not verify the server's TLS certificate"
    )
    lg.add_argument("--ca-cert", help="CA certificate (PEM) to verify the server with")
    profile(lg)
    lg.set_defaults(func=cmd_login)

    lo = sub.add_parser("logout", help="end the session and forget it")
    profile(lo)
    lo.set_defaults(func=cmd_logout)

    im = sub.add_parser("images", help="list the repository")
    im.add_argument("action", nargs="?", choices=["list"], default="list")
    im.add_argument("--json", action="store_true", help="print the server's answer as JSON")
    profile(im)
    im.set_defaults(func=cmd_images)

    ip = sub.add_parser(
        "import",
        help="upload a file (checksummed while it is sent) or import one from a remote server",
    )
    ip.add_argument("file", nargs="?", help="the file to upload")
    ip.add_argument("--type", required=True, type=str.upper, help="OS, DUD, BOOT, SCRIPT, …")
    ip.add_argument("--os", help="rhel, sles, ubuntu, esxi, windows, …")
    ip.add_argument("--name", help="imageName (the OS image of a driver; a label for OS media)")
    ip.add_argument("--osrelease", help="release the file is for")
    ip.add_argument("--description", help="free text")
    ip.add_argument(
        "--checksum",
        default="sha256",
        type=str.lower,
        choices=["sha256", "sha1", "md5", "sha512", "none"],
        help="algorithm computed while uploading and verified by the server (default sha256)",
    )
    ip.add_argument(
        "--checksum-first",
        action="store_true",
        help="read the file once before sending, and send the checksum before the file",
    )
    ip.add_argument("--checksum-value", help="expected checksum of a remote file (hex)")
    ip.add_argument("--server", help="remote file-server id to import from")
    ip.add_argument("--path", help="path of the file on the remote server")
    ip.add_argument("--quiet", action="store_true", help="no progress output")
    profile(ip)
    ip.set_defaults(func=cmd_import)

    tk = sub.add_parser("tasks", help="list import jobs")
    tk.add_argument("ids", nargs="*", help="only these jobs")
    tk.add_argument("--watch", action="store_true", help="refresh until every job has ended")
    tk.add_argument("--interval", type=float, default=2.0, help="seconds between refreshes")
    tk.add_argument("--json", action="store_true")
    profile(tk)
    tk.set_defaults(func=cmd_tasks)

    cn = sub.add_parser("cancel", help="cancel import jobs")
    cn.add_argument("ids", nargs="+")
    profile(cn)
    cn.set_defaults(func=cmd_cancel)

    de = sub.add_parser("delete", help="delete OS images and files from the repository")
    de.add_argument("ids", nargs="+", help="OS image ids and file ids")
    profile(de)
    de.set_defaults(func=cmd_delete)

    sv = sub.add_parser("servers", help="remote file servers")
    ssub = sv.add_subparsers(dest="action", required=True)
    sl = ssub.add_parser("list")
    sl.add_argument("--json", action="store_true")
    ss = ssub.add_parser("show")
    ss.add_argument("id")
    sa = ssub.add_parser("add")
    se = ssub.add_parser("edit")
    se.add_argument("id")
    for sp, required in ((sa, True), (se, False)):
        sp.add_argument("--name", required=required, help="displayName")
        sp.add_argument(
            "--protocol",
            required=required,
            type=str.upper,
            choices=["HTTP", "HTTPS", "FTP", "SFTP"],
        )
        sp.add_argument("--address", required=required)
        sp.add_argument("--port", type=int, required=required)
        sp.add_argument("--username")
        sp.add_argument("--password-stdin", action="store_true")
        sp.add_argument("--key-type", choices=["RSA-2048", "RSA-4096", "ECDSA-521-secp521r1"])
        sp.add_argument("--key-comment")
    sd = ssub.add_parser("delete")
    sd.add_argument("id")
    for sp in (sl, ss, sa, se, sd):
        profile(sp)
    sv.set_defaults(func=cmd_servers)
