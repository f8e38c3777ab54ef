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
