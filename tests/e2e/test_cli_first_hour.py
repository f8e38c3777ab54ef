"""What tripped a new user in the first hour with the command-line client, each checked
against a real `osdepot serve` over TLS: nothing sent twice, the vendor's checksum
checked, one clear line for every failure, the command line's words in messages,
users commands that never create an empty repository, and an unlock that counts at
once."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import ADMIN, ADMIN_PW, Server
from tests.e2e.test_cli_client import Cli
from tests.media import medium
from tests.samples import VALID

pytestmark = pytest.mark.e2e


@pytest.fixture
def cli(server: Server, tmp_path: Path) -> Cli:
    c = Cli(server, tmp_path / "config")
    c.login()
    return c


def jobs(cli: Cli) -> list[dict[str, object]]:
    return list(json.loads(cli("tasks", "--json").stdout))


def test_a_stored_release_is_refused_before_a_byte_is_sent(cli: Cli, tmp_path: Path) -> None:
    iso = medium(tmp_path / "rocky-9.4-x86_64-dvd.iso", "rocky")
    r = cli("import", str(iso))  # --type guessed from the name: .iso is an OS medium
    assert r.returncode == 0, r.stderr
    assert "OS image: rocky9.4" in r.stdout
    assert len(jobs(cli)) == 1
    copy = tmp_path / "copy-of-rocky.iso"
    shutil.copy(iso, copy)
    r = cli("import", str(copy))
    assert r.returncode == 1
    assert "FQXHMFC9024J" in r.stderr and "rocky9.4" in r.stderr and "--force" in r.stderr
    assert len(jobs(cli)) == 1  # no job, nothing uploaded
    # --force sends it anyway: the server has the last word (the same 409).
    r = cli("import", str(copy), "--force")
    assert r.returncode == 1 and "FQXHMFC9024J" in r.stderr
    assert [j["status"] for j in jobs(cli)] == ["Complete", "Stopped"]


def test_a_file_stored_already_is_named_not_stored_twice(cli: Cli, tmp_path: Path) -> None:
    name, _q, content = VALID["SCRIPT"]
    path = tmp_path / name
    path.write_bytes(content)
    assert cli("import", str(path), "--os", "rhel").returncode == 0  # .sh: a SCRIPT
    (stored,) = json.loads(cli("images", "--json").stdout)["installScriptFiles"]
    again = tmp_path / "renamed.sh"
    again.write_bytes(content)
    r = cli("import", str(again), "--os", "rhel")
    assert r.returncode == 1
    assert f"stored already as {stored['id']}" in r.stderr and "--force" in r.stderr
    assert len(jobs(cli)) == 1
    assert cli("import", str(again), "--os", "rhel", "--force").returncode == 0
    assert len(json.loads(cli("images", "--json").stdout)["installScriptFiles"]) == 2


def test_the_vendors_checksum_is_checked_by_the_server(cli: Cli, tmp_path: Path) -> None:
    name, _q, content = VALID["UNATTEND"]
    path = tmp_path / name
    path.write_bytes(content)
    r = cli("import", str(path), "--os", "rhel", "--checksum-value", "0000")
    assert r.returncode == 1 and "FQXHMFC" in r.stderr, r.stderr
    r = cli("import", str(path), "--os", "rhel", "--checksum-value", "ab" * 32)
    assert r.returncode == 1 and "FQXHMFC0001M" in r.stderr  # does not match
    import hashlib

    good = hashlib.sha256(content).hexdigest().upper()
    r = cli("import", str(path), "--os", "rhel", "--checksum-value", good)
    assert r.returncode == 0, r.stderr
    assert f"SHA256 {good.lower()}" in r.stdout and "verified by the server" in r.stdout
    r = cli("import", str(path), "--os", "rhel", "--checksum", "none", "--checksum-value", "00")
    assert r.returncode == 2 and "--checksum-value needs --checksum" in r.stderr


def test_a_name_that_does_not_say_the_type_asks_for_it(cli: Cli, tmp_path: Path) -> None:
    archive = tmp_path / "agent.tar.gz"
    archive.write_bytes(b"\x1f\x8b")
    r = cli("import", str(archive), "--os", "rhel")
    assert r.returncode == 2 and "give --type" in r.stderr
    assert jobs(cli) == []


def test_messages_speak_the_command_lines_words(cli: Cli, tmp_path: Path) -> None:
    name, _q, content = VALID["SCRIPT"]
    path = tmp_path / name
    path.write_bytes(content)
    r = cli("import", str(path))  # a script needs --os: checked here, no job made
    assert r.returncode == 1 and "FQXHMFC9002J" in r.stderr
    assert "--os" in r.stderr and "parameter" not in r.stderr and "request" not in r.stderr
    assert jobs(cli) == []
    r = cli("delete", "nosuchid")
    assert r.returncode == 1 and "FQXHMFC9016J" in r.stderr
    assert "osdepot images" in r.stderr and "GET /osImages" not in r.stderr
    # The REST API keeps its own words (clients parse the ids, people read the rest).
    s = requests.Session()
    s.trust_env = False
    s.verify = str(cli.server.data_dir / "tls" / "cert.pem")
    answer = s.delete(cli.server.url + "/osImages/nosuchid", auth=(ADMIN, ADMIN_PW), timeout=10)
    assert "GET /osImages" in answer.json()["messages"][0]["recovery"]["text"]


def test_every_failure_is_one_clear_line(server: Server, tmp_path: Path) -> None:
    c = Cli(server, tmp_path / "config")
    # No terminal and no --password-stdin: said, not a traceback.
    r = c("login", server.url, "--user", ADMIN, stdin="")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "--password-stdin" in r.stderr and "Traceback" not in r.stderr
    r = c("login", server.url, stdin="")
    assert r.returncode == 2 and "--user" in r.stderr and r.stderr.count("\n") == 1
    # A certificate the client does not trust names the two ways out.
    r = c("login", server.url, "--user", ADMIN, "--password-stdin", stdin=ADMIN_PW + "\n")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "not trusted" in r.stderr and "--ca-cert FILE" in r.stderr and "--insecure" in r.stderr
    r = c("login", server.url, "--user", ADMIN, "--password-stdin", "--insecure", stdin=ADMIN_PW)
    assert r.returncode == 0, r.stderr


def test_a_catalog_that_cannot_be_reached_is_said_as_such(tmp_path: Path) -> None:
    """`osdepot serve` started while its PostgreSQL was down (node-a restarted during
    an outage on the two-node cluster) said "unexpected error (OperationalError: …);
    run again with OSDEPOT_DEBUG=1"; it names the catalog and what to check."""
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for args in (["serve", "--port", "0"], ["users", "list"]):
        r = subprocess.run(
            [sys.executable, "-m", "osdepot.cli.main", *args],
            env={
                **os.environ,
                "OSDEPOT_DATA_DIR": str(tmp_path / "data"),
                "OSDEPOT_DATABASE_URL": f"postgresql+psycopg://osdepot@127.0.0.1:{port}/osdepot",
            },
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert r.returncode == 1 and r.stderr.count("\n") == 1, (args, r.stderr)
        assert r.stderr.startswith("osdepot: the catalog cannot be reached (connection failed")
        assert "OSDEPOT_DATABASE_URL" in r.stderr and "unexpected" not in r.stderr


def test_users_commands_never_create_an_empty_repository(server: Server, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for args in (["users", "list"], ["users", "unlock", "dave"], ["fsck"]):
        r = subprocess.run(
            [sys.executable, "-m", "osdepot.cli.main", *args],
            cwd=elsewhere,
            env={k: v for k, v in server.env().items() if k != "OSDEPOT_DATA_DIR"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert r.returncode == 2, (args, r.stderr)
        assert f"{elsewhere / 'osdepot-data'} holds no osdepot repository" in r.stderr
        assert "--data-dir" in r.stderr
    assert list(elsewhere.iterdir()) == []  # nothing was created


def test_an_unlock_counts_at_once_in_the_running_server(server: Server) -> None:
    r = server.cli("users", "add", "dave", "--role", "lxc-os-admin", "--password-stdin",
                   stdin="dave-password\n")  # fmt: skip
    assert r.returncode == 0, r.stderr
    s = requests.Session()
    s.trust_env = False
    s.verify = str(server.data_dir / "tls" / "cert.pem")
    for _ in range(5):
        s.post(server.url + "/sessions", json={"UserId": "dave", "password": "bad"}, timeout=30)
    locked = s.post(
        server.url + "/sessions", json={"UserId": "dave", "password": "dave-password"}, timeout=30
    )
    assert locked.json()["messages"][0]["id"] == "FQXHMSE9006J"
    assert server.cli("users", "unlock", "dave").returncode == 0
    ok = s.post(
        server.url + "/sessions", json={"UserId": "dave", "password": "dave-password"}, timeout=30
    )
    assert ok.status_code == 200, ok.text


def test_inspect_never_reports_more_than_everything_read(tmp_path: Path) -> None:
    # An exported profile's checks read a header twice: 114 bytes of a 112-byte file.
    name, _q, content = VALID["OSPROFILE"]
    path = tmp_path / name
    path.write_bytes(content)
    r = subprocess.run(
        [sys.executable, "-m", "osdepot.cli.main", "inspect", str(path), "--type", "OSPROFILE"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert f"read {len(content)} (100.000 %)" in r.stdout, r.stdout
