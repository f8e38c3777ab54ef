"""The command-line client (`osdepot login/images/import/tasks/servers/delete`) end to
end against `osdepot serve` over TLS: output, progress and exit codes."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.e2e.conftest import ADMIN, ADMIN_PW, Server
from tests.media import medium
from tests.remote.servers import PASSWORD, USER, HttpServer


@pytest.fixture
def files(tmp_path: Path) -> Path:
    root = tmp_path / "files"
    (root / "isos").mkdir(parents=True)
    medium(root / "isos" / "rocky-9.4.iso", "rocky")
    return root


class Cli:
    def __init__(self, server: Server, home: Path) -> None:
        self.server, self.home = server, home

    def __call__(
        self, *args: str, stdin: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "XDG_CONFIG_HOME": str(self.home)}
        env.pop("OSDEPOT_DATA_DIR", None)
        return subprocess.run(
            [sys.executable, "-m", "osdepot.cli.main", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
        )

    def login(self, profile: str = "default") -> None:
        r = self(
            "login",
            self.server.url,
            "--user",
            ADMIN,
            "--password-stdin",
            "--ca-cert",
            str(self.server.data_dir / "tls" / "cert.pem"),
            "--profile",
            profile,
            stdin=ADMIN_PW + "\n",
        )
        assert r.returncode == 0, r.stderr


@pytest.fixture
def cli(server: Server, tmp_path: Path) -> Cli:
    return Cli(server, tmp_path / "config")


def software(path: Path, size: int) -> bytes:
    """A valid .tar.gz of about ``size`` bytes (random, so it does not compress)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        data = os.urandom(size)
        info = tarfile.TarInfo("agent/payload.bin")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    path.write_bytes(buf.getvalue())
    return buf.getvalue()


@pytest.mark.e2e
def test_login_keeps_a_session_not_the_password(cli: Cli, server: Server) -> None:
    r = cli(
        "login", server.url, "--user", ADMIN, "--password-stdin", "--insecure",
        stdin="wrong-password\n",
    )  # fmt: skip
    assert r.returncode == 1
    assert "FQXHMSE" in r.stderr
    assert not (cli.home / "osdepot" / "profiles" / "default.json").exists()

    cli.login()
    cli.login("second")
    prof = cli.home / "osdepot" / "profiles" / "default.json"
    assert stat.S_IMODE(prof.stat().st_mode) == 0o600
    assert stat.S_IMODE(prof.parent.stat().st_mode) == 0o700
    text = prof.read_text()
    assert ADMIN_PW not in text
    data = json.loads(text)
    assert data["url"] == server.url and data["user"] == ADMIN and data["session"]

    r = cli("images", "--profile", "nobody")
    assert r.returncode == 2 and "not logged in" in r.stderr

    # A session ended on the server: the command says so and how to go on.
    r = cli("logout", "--profile", "second")
    assert r.returncode == 0
    r = cli("images", "--profile", "second")
    assert r.returncode == 2 and "not logged in" in r.stderr
    s = server.session()
    s.cookies.set("_sessionId", data["session"])
    s.headers["X-Csrf-Token"] = data["csrf"]
    assert s.delete(server.url + "/sessions", timeout=10).status_code == 200
    r = cli("images")
    assert r.returncode == 1 and "has ended" in r.stderr and "osdepot login" in r.stderr


@pytest.mark.e2e
@pytest.mark.parametrize("algo", ["sha256", "md5", "sha512", "sha1"])
def test_import_checksums_while_uploading(
    cli: Cli, server: Server, tmp_path: Path, algo: str
) -> None:
    cli.login()
    path = tmp_path / "agent.tar.gz"
    data = software(path, 6 * 1024 * 1024)
    r = cli("import", str(path), "--type", "software", "--os", "rhel", "--checksum", algo)
    assert r.returncode == 0, r.stderr
    digest = hashlib.new(algo, data).hexdigest()
    assert f"{algo.upper()} {digest}  agent.tar.gz (verified by the server)" in r.stdout
    assert "Complete" in r.stdout and "FQXHMFC9009I" in r.stdout
    # Progress, one line per 10 % when standard error is not a terminal.
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("agent.tar.gz")]
    assert len(lines) >= 5
    assert "100.0%" in lines[-1] and "/s" in lines[-1] and "left" in lines[-1]
    listing = server.session().get(server.url + "/osImages", timeout=10).json()
    (f,) = listing["softwareFiles"]
    assert f["size"] == len(data) and f["sha256"] == hashlib.sha256(data).hexdigest()
    assert f["checksums"][algo] == digest


@pytest.mark.e2e
def test_checksum_first_and_no_checksum(cli: Cli, server: Server, tmp_path: Path) -> None:
    cli.login()
    path = tmp_path / "a.tar.gz"
    data = software(path, 100_000)
    r = cli("import", str(path), "--type", "SOFTWARE", "--os", "rhel", "--checksum-first")
    assert r.returncode == 0, r.stderr
    assert hashlib.sha256(data).hexdigest() in r.stdout
    path2 = tmp_path / "b.tar.gz"
    software(path2, 1000)
    r = cli(
        "import", str(path2), "--type", "SOFTWARE", "--os", "rhel", "--checksum", "none", "--quiet"
    )
    assert r.returncode == 0, r.stderr
    assert "(verified by the server)" not in r.stdout and r.stderr == ""


@pytest.mark.e2e
def test_import_refusals_exit_non_zero_with_the_message(
    cli: Cli, server: Server, tmp_path: Path
) -> None:
    cli.login()
    bad = tmp_path / "post.sh"
    bad.write_bytes(b"\x00\x01\x02 not a script \xff\xfe")
    r = cli("import", str(bad), "--type", "SCRIPT", "--os", "rhel")
    assert r.returncode == 1
    assert "FQXHMFC9021J" in r.stderr and "post.sh" in r.stderr
    # A file of the wrong type is refused by the client's own check, before any job
    # exists (no job is left waiting for a file, or shown Cancelled without a reason).
    wrong = tmp_path / "notes.txt"
    wrong.write_text("hello\n")
    r = cli("import", str(wrong), "--type", "SCRIPT", "--os", "rhel")
    assert r.returncode == 1 and "FQXHMFC9001J" in r.stderr
    jobs = json.loads(cli("tasks", "--json").stdout)
    assert [j["status"] for j in jobs] == ["Stopped"]
    assert jobs[0]["messageID"] == "FQXHMFC9021J"
    r = cli("import", str(tmp_path / "missing.iso"), "--type", "OS")
    assert r.returncode == 2 and "is not a file" in r.stderr
    r = cli("import", "--type", "OS")
    assert r.returncode == 2


@pytest.mark.e2e
def test_images_tasks_delete(cli: Cli, server: Server, tmp_path: Path, files: Path) -> None:
    cli.login()
    r = cli("images")
    assert r.returncode == 0 and "empty" in r.stdout
    iso = files / "isos" / "rocky-9.4.iso"
    r = cli("import", str(iso), "--type", "OS", "--os", "rocky")
    assert r.returncode == 0, r.stderr
    assert "OS image: rocky9.4" in r.stdout
    r = cli("images")
    assert r.returncode == 0
    row = next(ln for ln in r.stdout.splitlines() if ln.startswith("OS "))
    assert "rocky9.4" in row and "profiles" in row
    listing = json.loads(cli("images", "--json").stdout)
    assert listing["items"][0]["id"] == "rocky9.4"
    r = cli("tasks")
    assert r.returncode == 0 and "Complete" in r.stdout and "rocky-9.4.iso" in r.stdout
    r = cli("tasks", "--watch", "--interval", "0.2")  # every job has ended: returns at once
    assert r.returncode == 0
    r = cli("delete", "rocky9.4")
    assert r.returncode == 0 and "Deleted rocky9.4" in r.stdout
    assert json.loads(cli("images", "--json").stdout)["items"] == []
    r = cli("delete", "rocky9.4")
    assert r.returncode == 1 and "FQXHMFC9016J" in r.stderr
    # An id with characters that mean something in a URL is sent encoded.
    odd = tmp_path / "50%off #1?.sh"
    odd.write_bytes(b"#!/bin/sh\necho\n")
    assert cli("import", str(odd), "--type", "SCRIPT", "--os", "rhel").returncode == 0
    (f,) = json.loads(cli("images", "--json").stdout)["installScriptFiles"]
    r = cli("delete", f["id"])
    assert r.returncode == 0, r.stderr
    assert json.loads(cli("images", "--json").stdout)["installScriptFiles"] == []


@pytest.mark.e2e
def test_servers_and_a_remote_import(
    cli: Cli, server: Server, files: Path, http: HttpServer
) -> None:
    cli.login()
    r = cli("servers", "list")
    assert r.returncode == 0 and "No remote file servers" in r.stdout
    r = cli(
        "servers", "add", "--name", "isos", "--protocol", "http", "--address", "127.0.0.1",
        "--port", str(http.port), "--username", USER, "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "serverId:" in r.stdout and PASSWORD not in r.stdout
    sid = next(ln.split()[1] for ln in r.stdout.splitlines() if ln.startswith("serverId:"))
    r = cli("servers", "edit", sid, "--name", "iso-store")
    assert r.returncode == 0 and "iso-store" in r.stdout
    r = cli("servers", "list")
    assert "iso-store" in r.stdout and "HTTP" in r.stdout
    assert json.loads(cli("servers", "list", "--json").stdout)[0]["displayName"] == "iso-store"

    data = (files / "isos" / "rocky-9.4.iso").read_bytes()
    r = cli(
        "import", "--server", sid, "--path", "/isos/rocky-9.4.iso", "--type", "OS",
        "--checksum", "sha256", "--checksum-value", hashlib.sha256(data).hexdigest(),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "Complete" in r.stdout
    assert "rocky-9.4.iso" in r.stderr  # the progress line of the transfer

    r = cli("import", "--server", sid, "--path", "/isos/missing.iso", "--type", "OS")
    assert r.returncode == 1 and "FQXHMFC9027J" in r.stderr and "Stopped" in r.stderr

    r = cli("servers", "show", sid)
    assert r.returncode == 0 and "iso-store" in r.stdout
    r = cli("servers", "delete", sid)
    assert r.returncode == 0
    r = cli("servers", "show", sid)
    assert r.returncode == 1 and "FQXHMFC9016J" in r.stderr
