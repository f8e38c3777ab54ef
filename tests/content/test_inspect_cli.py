"""`osdepot inspect` as a user runs it: output, JSON keys and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.media import medium
from tests.samples import zip_bytes

KEYS = {"valid", "fileKind", "imageType", "messages", "os", "size", "bytesRead", "details"}
OS_KEYS = {"family", "name", "version", "arch", "imageId", "osinfoId", "deployable", "profiles"}


def inspect(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "osdepot.cli.main", "inspect", *args],
        capture_output=True, text=True, timeout=60, env=dict(os.environ),
    )  # fmt: skip


def test_inspect_a_medium_as_json(tmp_path: Path, osinfo_db: Path) -> None:
    iso = medium(tmp_path / "rhel-9.4.iso", "rhel")
    r = inspect(str(iso), "--json", "--osinfo-path", str(osinfo_db))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) == KEYS and set(out["os"]) >= OS_KEYS
    assert out["valid"] is True and out["imageType"] == "OS" and out["messages"] == []
    o = out["os"]
    assert (o["family"], o["version"], o["arch"]) == ("rhel", "9.4", "x86_64")
    assert (o["imageId"], o["osinfoId"], o["deployable"]) == ("rhels9.4", "rhel9.4", True)
    assert o["profiles"] == ["Basic", "Minimal", "Virtualization"]


def test_inspect_refusals_and_text_output(tmp_path: Path) -> None:
    desktop = medium(tmp_path / "ubuntu.iso", "ubuntu", server=False)
    r = inspect(str(desktop), "--json")
    assert r.returncode == 1
    out = json.loads(r.stdout)
    assert out["valid"] is False and out["os"]["deployable"] is False
    assert out["messages"][0]["id"] == "FQXHMFC9022J"

    drivers = tmp_path / "drivers.zip"
    drivers.write_bytes(zip_bytes({"readme.txt": b"no drivers here"}))
    r = inspect(str(drivers), "--type", "DUD", "--os", "windows")
    assert r.returncode == 1
    assert "refused:    FQXHMFC9021J" in r.stdout and "no .inf file" in r.stdout

    script = tmp_path / "post.sh"
    script.write_text("#!/bin/sh\necho ok\n")
    r = inspect(str(script), "--os", "rhel")
    assert r.returncode == 0 and "valid; osdepot would import it" in r.stdout

    r = inspect(str(tmp_path / "missing.iso"))
    assert r.returncode == 2 and "is not a file" in r.stderr
    r = inspect(str(script), "--type", "BOOT")  # BOOT takes .zip only
    assert r.returncode == 1 and "FQXHMFC9001J" in r.stdout
