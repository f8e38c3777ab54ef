"""Downloads over plain HTTP go from the page cache to the socket with os.sendfile
(web/protocol.py): whole files, single ranges and files inside stored ISOs, with the
same headers and bytes as the buffered path; a client that stops reading or leaves
is cut; more downloads than sendfile threads fall back to the buffered path; TLS
connections never use it."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import Server, start_server, stop_server
from tests.e2e.test_downloads import archive
from tests.media import medium

pytestmark = pytest.mark.e2e
MiB = 1 << 20


@pytest.fixture
def plain(tmp_path: Path) -> Iterator[Server]:
    s = start_server(
        tmp_path / "data", {"OSDEPOT_NO_TLS": "1", "OSDEPOT_DOWNLOAD_STALL_TIMEOUT": "2"}
    )
    yield dataclasses.replace(s, url=s.url.replace("https://", "http://"))
    stop_server(s)


def _import(s: requests.Session, url: str, itype: str, name: str, data: bytes, q: str) -> str:
    job = s.post(f"{url}/osImages?imageType={itype}", json={"Action": "Init"}, timeout=10)
    r = s.post(
        f"{url}/files/osImages?jobId={job.json()['jobId']}{q}",
        files={"uploadedfile": (name, data)},
        timeout=120,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["fileid"])


def _sent(s: requests.Session, url: str) -> dict[str, float]:
    text = s.get(f"{url}/metrics", timeout=10).text
    found = re.findall(r'osdepot_download_bytes_sent_total\{how="(\w+)"\} ([0-9.e+]+)', text)
    return {how: float(n) for how, n in found}


def test_downloads_over_plain_http_are_sent_with_sendfile(plain: Server, tmp_path: Path) -> None:
    s = plain.session()
    data = archive(24 * MiB)
    fid = _import(s, plain.url, "SOFTWARE", "agent.tar.gz", data, "&os=rhel")
    before = _sent(s, plain.url).get("sendfile", 0.0)
    r = s.get(f"{plain.url}/files/osImages/{fid}", timeout=60)
    assert r.status_code == 200 and r.content == data
    assert r.headers["content-length"] == str(len(data))
    assert r.headers["etag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert "repr-digest" in r.headers and "content-disposition" in r.headers
    # a single range, and the iPXE pattern of 512-byte ranges on one connection
    r = s.get(
        f"{plain.url}/files/osImages/{fid}", headers={"Range": "bytes=1000-1999999"}, timeout=60
    )
    assert r.status_code == 206 and r.content == data[1000:2000000]
    assert r.headers["content-range"] == f"bytes 1000-1999999/{len(data)}"
    for offset in range(0, 64 * 512, 512):
        r = s.get(
            f"{plain.url}/files/osImages/{fid}",
            headers={"Range": f"bytes={offset}-{offset + 511}"},
            timeout=10,
        )
        assert r.status_code == 206 and r.content == data[offset : offset + 512]
    # several ranges: multipart, through the buffered path
    r = s.get(f"{plain.url}/files/osImages/{fid}", headers={"Range": "bytes=0-9,20-29"})
    assert r.status_code == 206 and r.headers["content-type"].startswith("multipart/byteranges")
    sent = _sent(s, plain.url)
    assert sent["sendfile"] - before == len(data) + 1999000 + 64 * 512
    # a file inside a stored ISO, through a signed link (one extent: sendfile too)
    iso = medium(tmp_path / "rhel.iso", "rhel")
    _import(s, plain.url, "OS", "rhel.iso", iso.read_bytes(), "")
    link = s.post(f"{plain.url}/osImages/rhels9.4/links", json={}, timeout=10).json()
    anonymous = requests.Session()
    anonymous.trust_env = False
    kernel = anonymous.get(link["url"] + "images/pxeboot/vmlinuz", timeout=10)
    assert kernel.status_code == 200 and kernel.content == b"kernel"
    assert _sent(s, plain.url)["sendfile"] - sent["sendfile"] == len(b"kernel")


def test_a_reader_that_stops_is_cut_and_one_that_leaves_frees_its_thread(
    plain: Server,
) -> None:
    s = plain.session()
    data = archive(48 * MiB)
    fid = _import(s, plain.url, "SOFTWARE", "big.tar.gz", data, "&os=rhel")
    host, port = plain.url.removeprefix("http://").split(":")
    cookie = "; ".join(f"{k}={v}" for k, v in s.cookies.items())
    request = (
        f"GET /files/osImages/{fid} HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n\r\n"
    ).encode()
    # 20 clients that read the head and then nothing: more than the 16 sendfile
    # threads; each is cut after the stall timeout (2 s here), and the server goes on
    stalled = []
    for _ in range(20):
        c = socket.create_connection((host, int(port)), timeout=10)
        c.sendall(request)
        c.recv(512)
        stalled.append(c)
    started = time.monotonic()
    # meanwhile a normal download still works (through sendfile or, with every
    # thread taken, the buffered path)
    r = s.get(f"{plain.url}/files/osImages/{fid}", timeout=60)
    assert r.status_code == 200 and r.content == data
    time.sleep(3.5)  # past the stall timeout (2 s): every stalled reader has been cut
    for c in stalled:
        c.settimeout(15)
        got = 0
        try:
            while chunk := c.recv(1 << 20):
                got += len(chunk)
        except ConnectionResetError:
            pass
        assert got < len(data)  # cut, not sent whole
        c.close()
    assert time.monotonic() - started < 30
    # clients that leave mid-download free their threads: 16 downloads afterwards all
    # go through sendfile again
    for _ in range(8):
        c = socket.create_connection((host, int(port)), timeout=10)
        c.sendall(request)
        c.recv(65536)
        c.close()
    time.sleep(3)
    before = _sent(s, plain.url)

    def fetch(_: int) -> bool:
        got = s.get(f"{plain.url}/files/osImages/{fid}", timeout=60)
        return got.content == data

    with ThreadPoolExecutor(16) as pool:
        assert all(pool.map(fetch, range(16)))
    after = _sent(s, plain.url)
    assert after["sendfile"] - before["sendfile"] == 16 * len(data)
