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
