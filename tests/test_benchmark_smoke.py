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
