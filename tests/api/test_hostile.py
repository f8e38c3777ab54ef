"""Hostile names and oversized requests: nothing reaches outside the store, every
refusal is a message, nothing is a 500."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osdepot.services.context import Context
from tests.conftest import Api, blob_paths

SCRIPT = b"#!/bin/sh\necho hello\n"
HOSTILE_NAMES = [
    "../../../../tmp/osdepot-evil.sh",
    "/etc/cron.d/osdepot-evil.sh",
    "..\\..\\windows\\osdepot-evil.sh",
    "%2e%2e%2fosdepot-evil.sh",
    "a\x00b.sh",
    "a\r\nContent-Type: text/html\r\n.sh",
    "x" * 5000 + ".sh",
    "\u202eevil\u202dhs.sh",  # right-to-left override
    "..sh",
    "   .sh",
    "con.sh",
    "..",
    "",
    "\U0001f680 rocket \u00e9\u0301.sh",
    "a,b|c.sh",
    "\ufeffbom.sh",
    "name\u0085nel.sh",
]


def path_id(file_id: str) -> str:
    """A file id for a URL path. Starlette's TestClient decodes the path twice (httpx,
    then itself), so it is encoded twice here; against a real server once is right
    (the CLI's `osdepot delete` does that, tested end to end)."""
    return quote(quote(file_id, safe=""), safe="")


def check_store(ctx: Context) -> None:
    root = (ctx.settings.data_dir / "blobs").resolve()
    for p in blob_paths(ctx.settings):
        assert p.resolve().is_relative_to(root)
        assert len(p.name) == 32  # stored under random keys, never under a name
    assert not Path("/tmp/osdepot-evil.sh").exists()
    assert not Path("/etc/cron.d/osdepot-evil.sh").exists()


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_file_names(api: Api, ctx: Context, name: str) -> None:
    job = api.init("SCRIPT")
    r = api.upload(job, name, SCRIPT, os="rhel")
    assert r.status_code in (201, 400, 412), r.text
    if r.status_code == 201:
        fid = r.json()["fileid"]
        assert "/" not in fid and "\\" not in fid and "\x00" not in fid
        listing = api.listing()
        (f,) = listing["installScriptFiles"]
        assert f["id"] == fid and "/" not in f["name"]
        assert api.c.delete(f"/osImages/{path_id(fid)}").status_code == 200
    else:
        assert r.json()["messages"][0]["id"].startswith("FQXHMFC")
        task = api.task(job)
        assert task["status"] in ("Pending", "Stopped")
    check_store(ctx)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(name=st.text(min_size=0, max_size=300), label=st.text(max_size=300))
def test_any_name_and_label(api: Api, ctx: Context, name: str, label: str) -> None:
    job = api.init("SCRIPT")
    r = api.c.post(
        f"/files/osImages?jobId={job}",
        params={"os": "rhel", "imageName": label, "description": label},
        files={"uploadedfile": (name or "x", SCRIPT, "application/octet-stream")},
    )
    assert r.status_code < 500, r.text
    body = r.json()
    assert body["result"] in ("success", "failed")
    if r.status_code == 201:
        assert api.c.delete(f"/osImages/{path_id(body['fileid'])}").status_code == 200
    check_store(ctx)


def test_hostile_image_names_and_ids(api: Api, ctx: Context) -> None:
    for label in ("../../etc", "/abs", "a\x00b", "x" * 5000, "\u202e"):
        job = api.init("DUD")
        r = api.c.post(
            "/files/osImages",
            params={"jobId": job, "os": "rhel", "imageName": label},
            files={"uploadedfile": ("d.rpm", b"x", "application/octet-stream")},
        )
        assert r.status_code in (400, 412), r.text
        assert r.json()["messages"][0]["id"].startswith("FQXHMFC")
    for ids in ("..%2F..%2Fcatalog.db", "..%2Fcatalog.db", "%00", "x" * 5000, ",,,"):
        r = api.c.delete(f"/osImages/{ids}")
        assert r.status_code in (400, 404, 412), r.text
    if not ctx.settings.database_url:  # the embedded catalog is a file of the data folder
        assert (ctx.settings.data_dir / "catalog.db").exists()
    check_store(ctx)


def test_oversized_fields_and_bodies(api: Api, ctx: Context) -> None:
    job = api.init("SCRIPT")
    r = api.upload(job, "s.sh", SCRIPT, {"checksumValue": "a" * 100_000}, os="rhel")
    assert r.status_code == 400
    assert "too large" in r.json()["messages"][0]["explanation"]
    big = json.dumps({"Action": "Init", "pad": "x" * 2_000_000})
    r = api.c.post(
        "/osImages?imageType=SCRIPT", content=big, headers={"Content-Type": "application/json"}
    )
    assert r.status_code in (400, 413), r.text
    assert r.json()["result"] == "failed"
    check_store(ctx)
