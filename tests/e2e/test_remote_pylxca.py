"""pylxca's remotefileservers and a remote import against `osdepot serve`, pulling
from real FTP and SFTP servers on 127.0.0.1; the Ruby client's form of the request."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pylxca
import pytest

from tests.e2e.conftest import ADMIN, ADMIN_PW, Server
from tests.media import medium
from tests.remote.servers import PASSWORD, USER, FtpServer, SftpServer


@pytest.fixture
def files(tmp_path: Path) -> Path:
    root = tmp_path / "files"
    (root / "isos").mkdir(parents=True)
    medium(root / "isos" / "sles-15-sp5.iso", "sles")
    medium(root / "isos" / "ubuntu-22.04.iso", "ubuntu")
    return root


def wait_task(con: object, job: str, timeout: float = 60) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        (task,) = pylxca.tasks(con, jobUID=job)["TaskList"]
        if task["complete"]:
            return dict(task)
        time.sleep(0.2)
    raise AssertionError(f"job {job} did not end")


def test_pylxca_remote_file_servers_and_import(
    server: Server, files: Path, ftp: FtpServer, sftp: SftpServer
) -> None:
    con = pylxca.connect(server.url, ADMIN, ADMIN_PW, noverify="True")
    rep = pylxca.osimages(
        con,
        subcmd="remotefileservers",
        osimages_dict=json.dumps(
            {"username": USER, "password": PASSWORD, "protocol": "FTP", "port": ftp.port,
             "address": "127.0.0.1", "displayName": "isos-ftp"}
        ),
    )  # fmt: skip
    assert rep["result"] == "success" and "password" not in rep, rep
    ftp_id = rep["serverId"]
    listed = pylxca.osimages(con, subcmd="remotefileservers")
    assert [s["displayName"] for s in listed["serverList"]] == ["isos-ftp"]

    job = pylxca.osimages(con, subcmd="import", imagetype="OS")["jobId"]
    rep = pylxca.osimages(
        con,
        subcmd="import",
        imagetype="OS",
        osimages_dict=json.dumps(
            {"jobId": job, "imageName": "sles-15-sp5.iso", "os": "sles", "serverId": ftp_id,
             "path": "/isos/sles-15-sp5.iso"}
        ),
    )  # fmt: skip
    assert rep["result"] == "success", rep
    task = wait_task(con, job)
    assert task["status"] == "Complete", task["messages"]
    (item,) = pylxca.osimages(con, subcmd="list")["items"]
    want = hashlib.sha256((files / "isos" / "sles-15-sp5.iso").read_bytes()).hexdigest()
    assert item["id"] == "sles15sp5" and item["sha256"] == want

    # SFTP, edited with pylxca's putid form, then deleted with deleteid.
    rep = pylxca.osimages(
        con,
        subcmd="remotefileservers",
        osimages_dict=json.dumps(
            {"username": USER, "password": PASSWORD, "protocol": "SFTP", "port": 1,
             "address": "127.0.0.1", "displayName": "isos-sftp"}
        ),
    )  # fmt: skip
    sftp_id = rep["serverId"]
    rep = pylxca.osimages(
        con,
        subcmd="remotefileservers",
        osimages_dict=json.dumps(
            {"putid": sftp_id, "protocol": "SFTP", "port": sftp.port, "address": "127.0.0.1",
             "displayName": "isos-sftp"}
        ),
    )  # fmt: skip
    # A new port: the password given for the old one is dropped, and the answer says so …
    assert rep["port"] == sftp.port and rep["hasPassword"] is False
    assert rep["droppedSecrets"] == ["password"]
    # … until it is sent again for the new target.
    rep = pylxca.osimages(
        con,
        subcmd="remotefileservers",
        osimages_dict=json.dumps(
            {"putid": sftp_id, "protocol": "SFTP", "port": sftp.port, "address": "127.0.0.1",
             "displayName": "isos-sftp", "username": USER, "password": PASSWORD}
        ),
    )  # fmt: skip
    assert rep["port"] == sftp.port and rep["hasPassword"] is True

    # The Ruby client's form: POST /osImages/?jobId=… with the same JSON body.
    s = con.get_session()
    r = s.post(
        server.url + "/osImages/?imageType=OS",
        data=json.dumps({"Action": "Init"}),
        verify=False,
    )
    job = r.json()["jobId"]
    r = s.post(
        server.url + f"/osImages/?jobId={job}&imageType=OS&imageName=ubuntu-22.04.iso",
        data=json.dumps({"serverId": sftp_id, "path": "/isos/ubuntu-22.04.iso"}),
        verify=False,
    )
    assert r.status_code == 201, r.text
    task = wait_task(con, str(job))
    assert task["status"] == "Complete", task["messages"]
    ids = {i["id"] for i in pylxca.osimages(con, subcmd="list")["items"]}
    assert ids == {"sles15sp5", "ubuntu22.04"}
    got = pylxca.osimages(
        con, subcmd="remotefileservers", osimages_dict=json.dumps({"id": sftp_id})
    )
    assert got["hostKeyFingerprint"] == sftp.fingerprint

    rep = pylxca.osimages(
        con, subcmd="remotefileservers", osimages_dict=json.dumps({"deleteid": ftp_id})
    )
    assert rep["result"] == "success"
    listed = pylxca.osimages(con, subcmd="remotefileservers")
    assert [s["displayName"] for s in listed["serverList"]] == ["isos-sftp"]
    log = (server.data_dir.parent / f"server-{server.url.rsplit(':', 1)[1]}.log").read_text()
    assert PASSWORD not in log
    pylxca.disconnect(con)
