"""Downloads and signed links with real clients against `osdepot serve` over TLS: the
command-line client (resuming after a cut), curl (ranges, HEAD, a link without login),
Python requests (streaming), and the memory of many concurrent downloads."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile
import threading
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import Server
from tests.e2e.test_attacks import Peak
from tests.e2e.test_cli_client import Cli
from tests.media import medium

pytestmark = pytest.mark.e2e
MiB = 1 << 20


def archive(size: int) -> bytes:
    """A valid .tar.gz of about ``size`` random bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        data = os.urandom(size)
        info = tarfile.TarInfo("agent/payload.bin")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def cli(server: Server, tmp_path: Path) -> Cli:
    c = Cli(server, tmp_path / "config")
    c.login()
    return c


def stored(cli: Cli, tmp_path: Path, size: int) -> tuple[str, bytes]:
    data = archive(size)
    path = tmp_path / "agent.tar.gz"
    path.write_bytes(data)
    r = cli("import", str(path), "--type", "SOFTWARE", "--os", "rhel", "--quiet")
    assert r.returncode == 0, r.stderr
    files = json.loads(cli("images", "--json").stdout)["softwareFiles"]
    return str(files[0]["id"]), data


def test_the_cli_downloads_and_resumes_after_a_cut(cli: Cli, tmp_path: Path) -> None:
    file_id, data = stored(cli, tmp_path, 5 * MiB)
    out = tmp_path / "copy.tar.gz"
    r = cli("download", file_id, "-o", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == data and "(verified)" in r.stdout
    # A cut download left a part behind: the next run goes on from its end.
    out.unlink()
    part = tmp_path / "copy.tar.gz.part"
    part.write_bytes(data[: 2 * MiB + 17])
    r = cli("download", file_id, "-o", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == data and not part.exists()
    # A part that is not the start of the file fails the check and is removed.
    part.write_bytes(b"x" * 1000)
    r = cli("download", file_id, "-o", str(out), "--quiet")
    assert r.returncode == 1 and "do not match" in r.stderr and not part.exists()
    assert cli("download", "nosuchfile").returncode == 1


def test_links_with_curl_and_requests(cli: Cli, server: Server, tmp_path: Path) -> None:
    file_id, data = stored(cli, tmp_path, 3 * MiB)
    r = cli("link", file_id, "--expires", "600")
    assert r.returncode == 0, r.stderr
    url = r.stdout.strip()
    assert url.startswith(server.url + "/links/")
    ca = str(server.data_dir / "tls" / "cert.pem")
    # curl, no credentials: HEAD, a range, the whole file.
    head = subprocess.run(
        ["curl", "-sS", "--cacert", ca, "-I", url], capture_output=True, text=True, timeout=30
    )
    assert head.returncode == 0 and "accept-ranges: bytes" in head.stdout.lower()
    assert f"content-length: {len(data)}" in head.stdout.lower()
    piece = subprocess.run(
        ["curl", "-sS", "--cacert", ca, "-r", "512-1023", url], capture_output=True, timeout=30
    )
    assert piece.returncode == 0 and piece.stdout == data[512:1024]
    whole = tmp_path / "whole.bin"
    done = subprocess.run(
        ["curl", "-sS", "--cacert", ca, "-o", str(whole), url], capture_output=True, timeout=60
    )
    assert done.returncode == 0 and whole.read_bytes() == data
    # curl -C -: resume a partial file.
    whole.write_bytes(data[:1000])
    done = subprocess.run(
        ["curl", "-sS", "--cacert", ca, "-C", "-", "-o", str(whole), url],
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0 and whole.read_bytes() == data
    # requests, streaming.
    s = requests.Session()
    s.trust_env = False
    with s.get(url, verify=ca, stream=True, timeout=30) as resp:
        got = b"".join(resp.iter_content(64 * 1024))
    assert got == data and resp.headers["etag"] == f'"{hashlib.sha256(data).hexdigest()}"'


def test_a_tree_link_serves_the_medium(cli: Cli, server: Server, tmp_path: Path) -> None:
    iso = medium(tmp_path / "rocky-9.4.iso", "rocky")
    assert cli("import", str(iso), "--quiet").returncode == 0
    r = cli("link", "rocky9.4")
    assert r.returncode == 0, r.stderr
    root = r.stdout.strip()
    assert root.endswith("/")
    ca = str(server.data_dir / "tls" / "cert.pem")
    s = requests.Session()
    s.trust_env = False
    treeinfo = s.get(root + ".treeinfo", verify=ca, timeout=30)
    assert treeinfo.status_code == 200 and b"[checksums]" in treeinfo.content
    assert s.get(root + "images/pxeboot/vmlinuz", verify=ca, timeout=30).content == b"kernel"
    r = cli("link", "rocky9.4", "--iso")  # the ISO itself, for virtual media or sanboot
    assert s.get(r.stdout.strip(), verify=ca, timeout=60).content == iso.read_bytes()


def test_concurrent_downloads_keep_memory_flat(cli: Cli, server: Server, tmp_path: Path) -> None:
    file_id, data = stored(cli, tmp_path, 128 * MiB)
    link = cli("link", file_id).stdout.strip()
    ca = str(server.data_dir / "tls" / "cert.pem")
    peak = Peak(server.proc.pid)
    errors: list[str] = []

    def fetch() -> None:
        s = requests.Session()
        s.trust_env = False
        digest = hashlib.sha256()
        with s.get(link, verify=ca, stream=True, timeout=120) as resp:
            for chunk in resp.iter_content(256 * 1024):
                digest.update(chunk)
        if digest.hexdigest() != hashlib.sha256(data).hexdigest():
            errors.append("bytes differ")

    threads = [threading.Thread(target=fetch) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    peak.stop()
    assert errors == [] and not any(t.is_alive() for t in threads)
    over = (peak.peak - peak.idle) / MiB
    assert over <= 100, f"8 downloads of 128 MiB took {over:.0f} MiB over idle"


def test_stalled_readers_cannot_hold_the_servers_memory(tmp_path: Path) -> None:
    # 30 clients ask for a 64 MiB file through a link and never read: the server holds
    # at most its download budget (4 MiB here) of pieces, answers those it has no room
    # for 503 FQXHMFC9041M, cuts the stalled ones after the stall timeout, and then
    # serves a new download whole.
    import socket
    import ssl
    import time

    from tests.e2e.conftest import start_server, stop_server

    srv = start_server(
        tmp_path / "data",
        {"OSDEPOT_DOWNLOAD_BUFFER_BYTES": str(4 * MiB), "OSDEPOT_DOWNLOAD_STALL_TIMEOUT": "2"},
    )
    try:
        cli = Cli(srv, tmp_path / "config")
        cli.login()
        file_id, data = stored(cli, tmp_path, 64 * MiB)
        link = cli("link", file_id).stdout.strip()
        path = "/" + link.split("/", 3)[3]
        port = int(srv.url.rsplit(":", 1)[1])
        ctx = ssl.create_default_context(cafile=str(srv.data_dir / "tls" / "cert.pem"))
        peak = Peak(srv.proc.pid)
        stalled = []
        for _ in range(30):
            raw = socket.create_connection(("127.0.0.1", port))
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            conn = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
            conn.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            stalled.append(conn)
        time.sleep(4)  # past the stall timeout: the server cuts or refuses them all
        statuses = []
        for conn in stalled:
            conn.settimeout(5)
            try:
                head = conn.recv(4096)
            except (OSError, TimeoutError):
                head = b""
            statuses.append(head.split(b" ", 2)[1] if head.startswith(b"HTTP/") else b"")
            conn.close()
        over = peak.stop() / MiB
        assert over <= 40, f"30 stalled downloads held {over:.0f} MiB over idle"
        assert b"503" in statuses and b"200" in statuses, statuses
        s = requests.Session()
        s.trust_env = False
        got = s.get(link, verify=str(srv.data_dir / "tls" / "cert.pem"), timeout=60).content
        assert got == data  # the budget was given back
    finally:
        stop_server(srv)
    # A client that went quiet is an expected event: one line, not a traceback.
    log = srv.log.read_text()
    assert "download cut:" in log and "Exception in ASGI application" not in log, log[-3000:]
