"""The commands: login, logout, images, import, tasks, cancel, delete, servers."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from typing import Any
from urllib.parse import quote

import httpx

from osdepot.cli.client.common import FAILED, OK, TERMINAL, CliError
from osdepot.cli.client.http import Api, _messages, _password, _verify, unreachable
from osdepot.cli.client.profiles import Profile
from osdepot.cli.client.progress import human
from osdepot.domain.images import (
    LISTING_GROUPS,
)
from osdepot.domain.text import printable


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
    """Columns, each cell with its control characters written as ``\\xNN`` (a name
    may come from another system, and the table goes to a terminal)."""
    cells = [[printable(str(c)) for c in r] for r in [head, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


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
