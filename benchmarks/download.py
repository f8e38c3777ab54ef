"""Downloads against nginx, same machine, same file, same run.

One RHEL-like medium of ``--size-gib`` (8 GiB by default: the declared files of a
real DVD at their real sizes — install.img 880 MiB and the rest — then real padding
bytes) is imported into ``osdepot serve --no-tls``; nginx then serves the very blob
osdepot stored, and a copy of ``images/install.img`` extracted from the ISO. Figures:

- a 2 GiB download (``Range: bytes=0-…`` of the stored ISO) from osdepot and from
  nginx, twice each, from the page cache (warmed first);
- ``images/install.img`` read out of the stored ISO through its tree URL against
  nginx serving the extracted file;
- 512-byte ranged reads at random offsets of the ISO through a signed link (the iPXE
  pattern), on one keep-alive connection: p50 and p99;
- the server's RSS during 8 concurrent 1 GiB downloads, over idle.

    .venv/bin/python -m benchmarks.download [--size-gib 8] [--runs 2] [--ranges 2000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from tests.media import make_iso, patch_header

from benchmarks.upload import (
    AUTH,
    find_nginx,
    free_port,
    log,
    osdepot_server,
    rss_mib,
    wait_port,
)
from benchmarks.verify_media import rhel_files

MIB = 1 << 20
BOUNDARY = "osdepotDownloadBench"


def build_medium(work: Path, size: int) -> Path:
    path = make_iso(work / "rhel.iso", rhel_files(), volume_id="RHEL-9-4-0-BaseOS-x86_64")
    have = path.stat().st_size
    if have < size:
        patch_header(path, volume_size=size)
        block = os.urandom(8 * MIB)
        with open(path, "r+b") as f:
            f.seek(have)
            while f.tell() < size:
                f.write(block[: min(len(block), size - f.tell())])
    return path


def upload(port: int, iso: Path) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    headers = {"Authorization": AUTH, "Content-Type": "application/json"}
    conn.request("POST", "/osImages?imageType=OS", body=b'{"Action":"Init"}', headers=headers)
    job = json.loads(conn.getresponse().read())["jobId"]
    conn.close()
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="uploadedfile"; '
        f'filename="rhel.iso"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    length = len(head) + iso.stat().st_size + len(tail)
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(
        (
            f"POST /files/osImages?jobId={job}&imageType=OS&os=rhel HTTP/1.1\r\n"
            f"Host: 127.0.0.1\r\nAuthorization: {AUTH}\r\nConnection: close\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: {length}\r\n\r\n"
        ).encode()
        + head
    )
    with open(iso, "rb") as f:
        sock.sendfile(f)
    sock.sendall(tail)
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    sock.close()
    body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert "fileid" in body, answer[:500]
    return str(body["fileid"])


def nginx_conf(root: Path, port: int, blob: Path, extracted: Path) -> Path:
    conf = root / "nginx.conf"
    (root / "logs").mkdir(parents=True, exist_ok=True)
    conf.write_text(
        f"""daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/logs/error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  sendfile on;
  server {{
    listen 127.0.0.1:{port};
    location = /blob {{ alias {blob}; default_type application/octet-stream; }}
    location = /install.img {{ alias {extracted}; default_type application/octet-stream; }}
  }}
}}
"""
    )
    return conf


def fetch(port: int, path: str, rng: str | None = None, auth: bool = True) -> tuple[float, int]:
    """Seconds and bytes of one GET, the body read and discarded."""
    sock = socket.create_connection(("127.0.0.1", port))
    head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    if auth:
        head += f"Authorization: {AUTH}\r\n"
    if rng:
        head += f"Range: bytes={rng}\r\n"
    t = time.perf_counter()
    sock.sendall((head + "\r\n").encode())
    buf = bytearray(4 * MIB)
    view = memoryview(buf)
    total = 0
    while n := sock.recv_into(view):
        total += n
    took = time.perf_counter() - t
    sock.close()
    return took, total


def best(runs: int, fn: Any) -> tuple[float, int]:
    results = [fn() for _ in range(runs)]
    return min(results, key=lambda r: r[0])


def ranged_latency(port: int, path: str, size: int, n: int) -> dict[str, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    rng = random.Random(7)
    times = []
    for _ in range(n):
        start = rng.randrange(0, size // 512) * 512
        t = time.perf_counter()
        conn.request("GET", path, headers={"Range": f"bytes={start}-{start + 511}"})
        r = conn.getresponse()
        data = r.read()
        times.append(time.perf_counter() - t)
        assert r.status == 206 and len(data) == 512, r.status
    conn.close()
    times.sort()
    return {
        "p50Ms": statistics.median(times) * 1000,
        "p99Ms": times[int(len(times) * 0.99) - 1] * 1000,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-gib", type=float, default=8.0)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--ranges", type=int, default=2000)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/download.json"))
    a = ap.parse_args()
    size = int(a.size_gib * (1 << 30)) // 2048 * 2048
    nginx = find_nginx()
    if nginx is None:
        log("nginx is missing; no figures against it")
        return 1
    res: dict[str, Any] = {"sizeBytes": size}
    with tempfile.TemporaryDirectory(dir=os.environ.get("OSDEPOT_BENCH_DIR", "/var/tmp")) as d:
        work = Path(d)
        log(f"building a {size / (1 << 30):.1f} GiB medium …")
        iso = build_medium(work, size)
        extracted = work / "install.img"
        extracted.write_bytes(rhel_files()["images/install.img"])
        data = work / "osdepot-data"
        data.mkdir()
        with osdepot_server(data, tls=False) as (port, proc):
            log("importing it …")
            file_id = upload(port, iso)
            iso.unlink()  # the stored blob is the one both servers read
            blob = max((p for p in (data / "blobs").rglob("*") if p.is_file()), key=os.path.getsize)
            for p in (work, data, data / "blobs", blob.parent):
                p.chmod(0o755)
            blob.chmod(0o644)
            extracted.chmod(0o644)
            nroot = work / "nginx"
            nport = free_port()
            conf = nginx_conf(nroot, nport, blob, extracted)
            import subprocess

            ng = subprocess.Popen([nginx, "-p", str(nroot), "-c", str(conf)])
            try:
                wait_port(nport)
                two = 2 * (1 << 30)
                log("warming the page cache …")
                fetch(nport, "/blob", f"0-{two - 1}", auth=False)
                fetch(nport, "/install.img", auth=False)
                n_t, n_b = best(a.runs, lambda: fetch(nport, "/blob", f"0-{two - 1}", auth=False))
                o_t, o_b = best(
                    a.runs, lambda: fetch(port, f"/files/osImages/{file_id}", f"0-{two - 1}")
                )
                res["download2GiB"] = {
                    "nginxMBps": two / n_t / 1e6,
                    "osdepotMBps": two / o_t / 1e6,
                    "ratio": n_t / o_t,
                }
                tree = "/osImages/rhels9.4/tree/images/install.img"
                n_t, n_b = best(a.runs, lambda: fetch(nport, "/install.img", auth=False))
                o_t, o_b = best(a.runs, lambda: fetch(port, tree))
                res["treeFile"] = {
                    "bytes": extracted.stat().st_size,
                    "nginxMBps": n_b / n_t / 1e6,
                    "osdepotMBps": o_b / o_t / 1e6,
                    "ratio": n_t / o_t,
                }
                conn = http.client.HTTPConnection("127.0.0.1", port)
                conn.request(
                    "POST",
                    f"/files/osImages/{file_id}/links",
                    body=b"{}",
                    headers={"Authorization": AUTH, "Content-Type": "application/json"},
                )
                url = json.loads(conn.getresponse().read())["url"]
                conn.close()
                link = "/" + url.split("/", 3)[3]
                res["ranges512"] = ranged_latency(port, link, size, a.ranges)
                idle = rss_mib(proc.pid)
                peak = [idle]
                stop = threading.Event()

                def sample() -> None:
                    while not stop.wait(0.02):
                        peak[0] = max(peak[0], rss_mib(proc.pid))

                sampler = threading.Thread(target=sample, daemon=True)
                sampler.start()
                gib = 1 << 30
                jobs = [
                    threading.Thread(
                        target=fetch,
                        args=(
                            port,
                            f"/files/osImages/{file_id}",
                            f"{i * gib // 2}-{i * gib // 2 + gib - 1}",
                        ),
                    )
                    for i in range(8)
                ]
                for t in jobs:
                    t.start()
                for t in jobs:
                    t.join()
                stop.set()
                sampler.join()
                res["concurrent8x1GiB"] = {
                    "idleMiB": idle,
                    "peakMiB": peak[0],
                    "overMiB": peak[0] - idle,
                }
            finally:
                ng.terminate()
                ng.wait(10)
    dl, tf, rr, cc = res["download2GiB"], res["treeFile"], res["ranges512"], res["concurrent8x1GiB"]
    print(
        f"2 GiB download: osdepot {dl['osdepotMBps']:.0f} MB/s, nginx {dl['nginxMBps']:.0f} MB/s, "
        f"ratio {dl['ratio']:.2f} (target ≥ 0.9)"
    )
    print(
        f"install.img from the ISO's tree: osdepot {tf['osdepotMBps']:.0f} MB/s, nginx (extracted) "
        f"{tf['nginxMBps']:.0f} MB/s, ratio {tf['ratio']:.2f} (target ≥ 0.8)"
    )
    print(
        f"512-byte ranges at random offsets through a link: p50 {rr['p50Ms']:.2f} ms, "
        f"p99 {rr['p99Ms']:.2f} ms (target p99 ≤ 10)"
    )
    print(
        f"8 concurrent 1 GiB downloads: RSS {cc['idleMiB']:.0f} → {cc['peakMiB']:.0f} MiB, "
        f"{cc['overMiB']:.0f} over idle (target ≤ 100)"
    )
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=2))
    print(f"results written to {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
