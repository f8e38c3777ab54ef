"""The HTTP side: an API session on a profile, and the messages of its answers."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Any

import httpx

from osdepot.cli.client.common import FAILED, CliError
from osdepot.cli.client.profiles import Profile


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
