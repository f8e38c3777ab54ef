"""The HTTP side: an API session on a profile, and the messages of its answers."""

from __future__ import annotations

import argparse
import getpass
import ssl
import sys
from pathlib import Path
from typing import Any

import httpx

from osdepot.cli.client.common import FAILED, CliError
from osdepot.cli.client.profiles import Profile
from osdepot.cli.client.wording import for_cli
from osdepot.domain.text import printable


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
            raise unreachable(self.profile.url, exc) from None
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
    """The server's messages, one per line: id, text, explanation, recovery, in the
    command line's words (cli/client/wording.py), with control characters written as
    ``\\xNN``: a message may quote what another system said (a remote server, a BMC),
    and it is printed to a terminal."""
    msgs = body.get("messages") if isinstance(body, dict) else None
    lines = []
    for m in msgs or []:
        if isinstance(m, dict):
            lines.append(_said(f"{m.get('id', '')} {m.get('text', '')}".strip()))
            if m.get("explanation"):
                lines.append(f"  {_said(str(m['explanation']))}")
            rec = m.get("recovery")
            if isinstance(rec, dict) and rec.get("text"):
                lines.append(f"  {_said(str(rec['text']))}")
    return "\n".join(lines)


def _said(text: str) -> str:
    return printable(for_cli(text))


def unreachable(url: str, exc: BaseException) -> CliError:
    """One line for a server that could not be reached; an untrusted certificate names
    the options that fix it."""
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or isinstance(exc, ssl.SSLCertVerificationError):
        reason = text.split("certificate verify failed:")[-1].split("(_ssl")[0].strip(" :)")
        return CliError(
            f"osdepot: the TLS certificate of {url} is not trusted ({reason or 'unknown'}); "
            "log in with --ca-cert FILE (the server's certificate or its CA; `osdepot "
            "serve` keeps its own in DATA_DIR/tls/cert.pem), or --insecure to skip the check"
        )
    return CliError(f"osdepot: cannot reach {url}: {text or type(exc).__name__}")


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
    if not sys.stdin.isatty():
        raise CliError(
            "osdepot: no terminal to ask for the password on; pipe it in with --password-stdin"
        )
    try:
        return getpass.getpass("Password: ")
    except EOFError:
        raise CliError("osdepot: no password given") from None
