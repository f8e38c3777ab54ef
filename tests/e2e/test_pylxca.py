"""pylxca 4.2.0, unchanged, against a real `osdepot serve` over TLS."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pylxca
import requests

from tests.e2e.conftest import ADMIN, ADMIN_PW, Server
from tests.media import medium
from tests.samples import asc_bytes, zip_bytes


def task_list(con: object, **kw: str) -> list[dict[str, object]]:
    """pylxca.tasks wraps the server's bare array as {"TaskList": [...]}."""
    res = pylxca.tasks(con, **kw)
    assert isinstance(res, dict), res
    return list(res["TaskList"])


def wait_done(con: object, job: str, timeout: float = 30) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        (task,) = task_list(con, jobUID=job)
        if task["complete"]:
            return dict(task)
        time.sleep(0.2)
    raise AssertionError(f"job {job} did not finish")


def test_pylxca_import_list_tasks_delete(server: Server, tmp_path: Path, osinfo_db: Path) -> None:
    iso = medium(tmp_path / "rhel-9.4-x86_64-dvd.iso", "rhel", version="9.4")
    ks = tmp_path / "sles_unattended.xml"
    ks.write_text("<profile/>")
    con = pylxca.connect(server.url, ADMIN, ADMIN_PW, noverify="True")
    assert con is not None

    rep = pylxca.osimages(con, subcmd="import", imagetype="OS")
    job = rep["jobId"]
    rep = pylxca.osimages(
        con,
        subcmd="import",
        imagetype="OS",
        osimages_dict=json.dumps(
            {
                "jobId": job,
                "imageName": "rhels9.4",
                "os": "rhel",
                "description": "RHEL 9.4",
                "file": str(iso),
            }
        ),
    )
    assert rep["result"] == "success", rep
    assert rep["fileid"].endswith("_rhel-9.4-x86_64-dvd.iso")
    task = wait_done(con, job)
    assert task["status"] == "Complete" and task["percentage"] == 100

    rep = pylxca.osimages(con, subcmd="import", imagetype="UNATTEND")
    rep = pylxca.osimages(
        con,
        subcmd="import",
        imagetype="UNATTEND",
        osimages_dict=json.dumps(
            {
                "jobId": rep["jobId"],
                "imageName": "SLES",
                "os": "sles",
                "description": "SLES_config_file",
                "file": str(ks),
            }
        ),
    )
    assert rep["result"] == "success", rep
    unattend_id = rep["fileid"]

    listing = pylxca.osimages(con, subcmd="list")
    assert [i["id"] for i in listing["items"]] == ["rhels9.4"]
    item = listing["items"][0]
    assert item["name"] == "Red Hat Enterprise Linux 9.4" and item["osinfoId"] == "rhel9.4"
    assert len(item["profiles"]) == 3
    assert item["sha256"] == hashlib.sha256(iso.read_bytes()).hexdigest()
    assert item["description"] == "RHEL 9.4"
    assert [f["id"] for f in listing["unattendFiles"]] == [unattend_id]

    all_tasks = task_list(con)
    assert {t["jobUID"] for t in all_tasks} >= {job}

    rep = pylxca.osimages(con, subcmd="delete", id=f"rhels9.4,{unattend_id}")
    assert rep["result"] == "success"
    listing = pylxca.osimages(con, subcmd="list")
    assert listing["items"] == [] and listing["unattendFiles"] == []
    assert pylxca.disconnect(con) is True


def test_pylxca_bundle_pair_and_cancel(server: Server, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle_win2016_20180926153236.zip"
    bundle.write_bytes(zip_bytes({"bundle.xml": b"<bundle/>"}))
    sig = tmp_path / "bundle_win2016_20180926153236.zip.asc"
    sig.write_bytes(asc_bytes())
    con = pylxca.connect(server.url, ADMIN, ADMIN_PW, noverify="True")
    rep = pylxca.osimages(con, subcmd="import", imagetype="BUNDLE")
    job = rep["jobId"]
    r1 = pylxca.osimages(
        con,
        subcmd="import",
        imagetype="BUNDLE",
        osimages_dict=json.dumps({"jobId": job, "imageName": bundle.name, "file": str(bundle)}),
    )
    r2 = pylxca.osimages(
        con,
        subcmd="import",
        imagetype="BUNDLESIG",
        osimages_dict=json.dumps({"jobId": job, "imageName": sig.name, "file": str(sig)}),
    )
    assert r1["result"] == r2["result"] == "success"
    assert len(pylxca.osimages(con, subcmd="list")["bundleFiles"]) == 2

    pending = pylxca.osimages(con, subcmd="import", imagetype="DUD")["jobId"]
    pylxca.tasks(con, jobUID=pending, action="cancel")
    (task,) = task_list(con, jobUID=pending)
    assert task["status"] == "Cancelled"
    pylxca.disconnect(con)


def test_raw_requests_on_the_pylxca_session(server: Server) -> None:
    """What pylxca cannot express: checksum parts, and another user's job id."""
    added = server.cli(
        "users",
        "add",
        "second",
        "--role",
        "lxc-os-admin",
        "--password-stdin",
        stdin="second-password\n",
    )
    assert added.returncode == 0, added.stderr
    con = pylxca.connect(server.url, ADMIN, ADMIN_PW, noverify="True")
    s: requests.Session = con.get_session()
    data = b"#!/bin/sh\necho hello\n" * 1000
    job = s.post(
        server.url + "/osImages/?imageType=SCRIPT",
        data=json.dumps({"Action": "Init", "fileSize": len(data)}),
        verify=False,
    ).json()["jobId"]

    other = pylxca.connect(server.url, "second", "second-password", noverify="True")
    r = other.get_session().post(
        server.url + f"/files/osImages?jobId={job}&imageType=SCRIPT&os=rhel",
        files={"uploadedfile": ("post.sh", data)},
        headers={"Content-Type": None},  # requests drops it
        verify=False,
    )
    assert r.status_code == 403 and r.json()["messages"][0]["id"] == "FQXHMFC9003J"

    url = server.url + f"/files/osImages?jobId={job}&imageType=SCRIPT&os=rhel&imageName=post"
    r = s.post(
        url,
        headers={"Content-Type": None},  # type: ignore[dict-item]  # requests drops it
        verify=False,
        files=[
            ("checksumType", (None, "MD5")),
            ("checksumValue", (None, "0" * 32)),
            ("uploadedfile", ("post.sh", data, "application/octet-stream")),
        ],
    )
    assert r.status_code == 409 and r.json()["messages"][0]["id"] == "FQXHMFC0001M"

    job = s.post(
        server.url + "/osImages/?imageType=SCRIPT",
        data=json.dumps({"Action": "Init", "fileSize": str(len(data))}),
        verify=False,
    ).json()["jobId"]
    url = server.url + f"/files/osImages?jobId={job}&imageType=SCRIPT&os=rhel"
    r = s.post(
        url,
        headers={"Content-Type": None},  # type: ignore[dict-item]  # requests drops it
        verify=False,
        files=[
            ("uploadedfile", ("post.sh", data, "application/octet-stream")),
            ("checksumType", (None, "MD5")),
            ("checksumValue", (None, hashlib.md5(data).hexdigest())),
        ],
    )
    assert r.status_code == 201, r.text
    pylxca.disconnect(other)
    pylxca.disconnect(con)


def test_users_cli_while_serving(server: Server) -> None:
    assert (
        server.cli(
            "users", "add", "op", "--role", "operator", "--password-stdin", stdin="operator-pass\n"
        ).returncode
        == 0
    )
    listed = server.cli("users", "list").stdout
    assert "op\tlxc-operator" in listed and f"{ADMIN}\tlxc-supervisor" in listed
    op = server.session("op", "operator-pass")
    assert op.get(server.url + "/osImages").status_code == 200
    assert op.post(server.url + "/osImages", json={"Action": "Init"}).status_code == 403
    assert (
        server.cli(
            "users", "passwd", "op", "--password-stdin", stdin="operator-pass-2\n"
        ).returncode
        == 0
    )
    assert op.get(server.url + "/osImages").status_code == 401  # sessions ended
    server.session("op", "operator-pass-2")
    bad = server.cli(
        "users", "add", "x", "--role", "wizard", "--password-stdin", stdin="whatever-pw\n"
    )
    assert bad.returncode == 1 and "not a role" in bad.stderr
    assert server.cli("users", "delete", "op").returncode == 0
    assert server.cli("users", "delete", "op").returncode == 1
