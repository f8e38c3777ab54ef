"""A customised profile exported by `osdepot export` on one server and imported with
`osdepot import --type OSPROFILE` on a second, fresh one: the same OS image, the same
profile and the same files (names, types, SHA-256) on both."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.e2e.conftest import Server, start_server, stop_server
from tests.e2e.test_cli_client import Cli
from tests.media import medium
from tests.samples import KICKSTART, VALID

pytestmark = pytest.mark.e2e
IMAGE = "rhels9.4"
CUSTOM = f"{IMAGE}|{IMAGE}-x86_64-install-Custom_web"


@pytest.fixture
def other(tmp_path: Path) -> Iterator[Server]:
    s = start_server(tmp_path / "data-b")
    yield s
    stop_server(s)


def _profile(images: dict[str, Any]) -> dict[str, Any]:
    (image,) = images["items"]
    (p,) = [p for p in image["profiles"] if p["id"] == CUSTOM]
    return dict(p)


def _files(images: dict[str, Any], ids: list[str]) -> set[tuple[str, str, str]]:
    every = [f for k, v in images.items() if isinstance(v, list) and k != "items" for f in v]
    return {(f["name"], f["type"], f["sha256"]) for f in every if f.get("id") in ids}


def test_export_on_one_server_import_on_another(
    server: Server, other: Server, tmp_path: Path
) -> None:
    a, b = Cli(server, tmp_path / "cfg-a"), Cli(other, tmp_path / "cfg-b")
    a.login()
    b.login()
    iso = medium(tmp_path / "rhel-9.4.iso", "rhel", version="9.4")
    script, ks = tmp_path / "post.sh", tmp_path / "ks.ks"
    script.write_bytes(VALID["SCRIPT"][2])
    ks.write_bytes(KICKSTART)
    for args in ((str(iso),), (str(script), "--os", "rhel"), (str(ks), "--os", "rhel")):
        r = a("import", *args, "--quiet")
        assert r.returncode == 0, r.stderr
    images = json.loads(a("images", "--json").stdout)
    script_id = images["installScriptFiles"][0]["id"]
    ks_id = images["unattendFiles"][0]["id"]
    s = server.session()
    body: dict[str, Any] = {
        "profile": {
            "name": "web",
            "customizationOptions": {
                "customScriptOptions": {"customScriptIds": [script_id]},
                "unattendOptions": {"unattendFileIds": [ks_id]},
            },
        }
    }
    basic = quote(f"{IMAGE}|{IMAGE}-x86_64-install-Basic", safe="")
    made = s.post(f"{server.url}/osImages/{basic}", json=body, timeout=30)
    assert made.status_code == 201, made.text

    out = tmp_path / "web.tar.gz"
    r = a("export", CUSTOM, "-o", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    assert "Complete" in r.stdout and "(verified)" in r.stdout and out.stat().st_size > 0

    # the second server refuses it until it holds the OS image, then takes it
    r = b("import", str(out), "--type", "OSPROFILE", "--quiet")
    assert r.returncode != 0 and IMAGE in r.stderr, r.stderr
    assert b("import", str(iso), "--quiet").returncode == 0
    r = b("import", str(out), "--type", "OSPROFILE", "--quiet")
    assert r.returncode == 0, r.stderr

    mine, theirs = (
        json.loads(a("images", "--json").stdout),
        json.loads(b("images", "--json").stdout),
    )
    assert mine["items"][0]["sha256"] == theirs["items"][0]["sha256"]
    pa, pb = _profile(mine), _profile(theirs)
    assert pa["customizationOptions"] == pb["customizationOptions"]
    assert (pa["baseProfile"], pa["profile"]) == (pb["baseProfile"], pb["profile"])
    ids = [script_id, ks_id]
    assert _files(mine, ids) == _files(theirs, ids) and len(_files(theirs, ids)) == 2


def test_many_exports_at_once_hold_bounded_memory(server: Server, tmp_path: Path) -> None:
    """24 exports of a profile with a 24 MiB payload started together: they take
    turns (remote_max_transfers at a time), so the server's memory stays bounded."""
    import os

    from tests.e2e.test_attacks import Peak

    s = server.session()
    iso = medium(tmp_path / "rhel.iso", "rhel", version="9.4")
    payload = tmp_path / "agent.tar.gz"
    import io
    import tarfile

    with tarfile.open(payload, "w:gz", compresslevel=1) as tar:
        data = os.urandom(24 << 20)
        info = tarfile.TarInfo("agent.bin")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    ids = []
    for path, query in ((iso, ""), (payload, "&imageType=SOFTWARE&os=rhel")):
        itype = "SOFTWARE" if query else "OS"
        job = s.post(f"{server.url}/osImages?imageType={itype}", json={"Action": "Init"}).json()
        with path.open("rb") as f:
            r = s.post(
                f"{server.url}/files/osImages?jobId={job['jobId']}{query}",
                files={"uploadedfile": (path.name, f)},
                timeout=120,
            )
        assert r.status_code == 201, r.text
        ids.append(r.json()["fileid"])
    body: dict[str, Any] = {
        "profile": {
            "name": "web",
            "customizationOptions": {"customSoftwareOptions": {"customSoftwareIds": [ids[1]]}},
        }
    }
    basic = quote(f"{IMAGE}|{IMAGE}-x86_64-install-Basic", safe="")
    assert s.post(f"{server.url}/osImages/{basic}", json=body, timeout=30).status_code == 201
    peak = Peak(server.proc.pid)
    jobs = [
        s.get(f"{server.url}/osImages/{quote(CUSTOM, safe='')}", timeout=30).json()["jobId"]
        for _ in range(24)
    ]
    import time

    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        tasks = s.get(f"{server.url}/tasks/{','.join(jobs)}", timeout=30).json()
        if all(t["complete"] for t in tasks):
            break
        time.sleep(0.5)
    grown = peak.stop()
    assert [t["status"] for t in tasks] == ["Complete"] * len(jobs), tasks
    assert grown < 150 << 20, f"RSS grew {grown >> 20} MiB"
