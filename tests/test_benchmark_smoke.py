"""The benchmarks run (tiny sizes, no timing asserted) so that they cannot rot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.shared import ROOT


def test_inspect_media_benchmark_smoke(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    r = subprocess.run(
        [sys.executable, "-m", "benchmarks.inspect_media", "--size-gib", "0.05", "--runs", "2",
         "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=dict(os.environ),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    figures = json.loads(out.read_text())
    assert [m["family"] for m in figures["media"]] == ["rhel", "sles", "ubuntu", "esxi", "windows"]
    assert all(0 < m["bytesRead"] < 64 * 1024 for m in figures["media"])


def test_upload_benchmark_smoke(tmp_path: Path) -> None:
    """benchmarks/upload.py --smoke: every section runs and yields its figures."""
    out = tmp_path / "u.json"
    r = subprocess.run(
        # The scratch folder stays the default (/var/tmp): nginx's worker runs
        # unprivileged and cannot enter pytest's private temporary folders.
        [sys.executable, "-m", "benchmarks.upload", "--smoke", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env=dict(os.environ),
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["smoke"] is True
    for key in ("single_sha256", "single_md5", "concurrent_sha256", "tls_single_sha256"):
        assert res["osdepot"][key] > 0
    # resumable uploads over TLS, against nginx over TLS
    assert res["osdepot"]["tls_resumable_one_patch"] > 0
    assert res["osdepot"]["tls_resumable_64mib"] > 0
    assert res["nginx"]["tls_single"] > 0
    assert "TLS: resumable, 64 MiB / nginx TLS" in res["ratios"]
    assert res["hashlib"]["sha256"] > 0 and res["hashlib"]["md5"] > 0
    assert res["memory"]["peak_mib"] >= res["memory"]["idle_mib"] > 0
    assert res["list"]["entries"] == 500 and res["list"]["p99_ms"] > 0
    assert res["tasks_rps"] > 0
    assert "ratios" in res and "GET /osImages" in r.stdout


def test_s3_upload_benchmark_smoke(tmp_path: Path) -> None:
    """benchmarks/s3_upload.py at a tiny size: both uploads run and yield figures."""
    out = tmp_path / "s3.json"
    r = subprocess.run(
        [sys.executable, "-m", "benchmarks.s3_upload", "--size-mib", "24", "--runs", "1",
         "--big-mib", "24", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=dict(os.environ),
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["osdepotMBs"] > 0 and res["boto3MBs"] > 0 and res["rssPeakMiB"] >= res["rssIdleMiB"]
