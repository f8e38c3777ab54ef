"""`osdepot serve --workers 2`: two processes on one repository, over TLS."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path

import psutil
import requests

from tests.e2e.conftest import ADMIN, ADMIN_PW, Server, start_server, stop_server
from tests.e2e.test_streaming import BOUNDARY, CHUNK, multipart


def wait_for_workers(server: Server, n: int = 2) -> None:
    deadline = time.monotonic() + 20
    while len(psutil.Process(server.proc.pid).children(recursive=True)) < n:
        assert time.monotonic() < deadline, "the workers did not start"
        time.sleep(0.1)
    time.sleep(1.0)  # and are listening


def test_two_workers_share_the_repository(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", {"OSDEPOT_WORKERS": "2"})
    try:
        wait_for_workers(server)
        s = server.session()
        # Several requests on fresh connections land on both workers; each sees the
        # same jobs and files, and the listing changes as soon as the repository does.
        ids = []
        for i in range(6):
            r = requests.Session()
            r.verify, r.trust_env = s.verify, False
            r.auth = s.auth
            r.cookies, r.headers = s.cookies, s.headers
            job = r.post(server.url + "/osImages?imageType=SCRIPT", json={"Action": "Init"})
            assert job.status_code == 201, job.text
            jid = job.json()["jobId"]
            up = r.post(
                server.url + f"/files/osImages?jobId={jid}&os=rhel",
                files={"uploadedfile": (f"s{i}.sh", f"echo {i}\n".encode())},
            )
            assert up.status_code == 201, up.text
            ids.append(up.json()["fileid"])
            listed = {f["id"] for f in r.get(server.url + "/osImages").json()["installScriptFiles"]}
            assert set(ids) <= listed
        # A cancel stops the upload whichever worker handles it (the other one sees
        # the state in the catalog at its next progress update).
        job = s.post(
            server.url + "/osImages?imageType=OS", json={"Action": "Init", "fileSize": 300 * CHUNK}
        ).json()["jobId"]
        result: dict[str, object] = {}

        def upload() -> None:
            other = requests.Session()
            other.verify, other.trust_env = s.verify, False
            other.cookies, other.headers = s.cookies, s.headers
            try:
                r = other.post(
                    server.url + f"/files/osImages?jobId={job}&os=rhel",
                    data=multipart("w.iso", 300 * CHUNK, pause=0.02),
                    headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
                    timeout=60,
                )
                result["status"] = r.status_code
            except requests.ConnectionError as exc:
                result["error"] = exc

        t = threading.Thread(target=upload)
        t.start()
        deadline = time.monotonic() + 20
        while s.get(server.url + f"/tasks/{job}").json()[0]["bytesReceived"] == 0:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        for _ in range(3):  # fresh connections: one of them reaches the other worker
            c = requests.Session()
            c.verify, c.trust_env = s.verify, False
            c.cookies, c.headers = s.cookies, s.headers
            c.put(
                server.url + "/tasks",
                data=json.dumps({"action": "cancel", "list": [job]}),
                headers={"Content-Type": "application/json"},
            )
        t.join(60)
        assert not t.is_alive()
        task = s.get(server.url + f"/tasks/{job}").json()[0]
        assert task["status"] == "Cancelled"
        assert result.get("status") in (409, None)
        staging = server.data_dir / "blobs" / ".staging"
        deadline = time.monotonic() + 10
        while any(staging.iterdir()):
            assert time.monotonic() < deadline, "staging left behind"
            time.sleep(0.1)
        digest = hashlib.sha256(b"echo 0\n").hexdigest()
        (first,) = [
            f for f in s.get(server.url + "/osImages").json()["installScriptFiles"]
            if f["id"] == ids[0]
        ]  # fmt: skip
        assert first["sha256"] == digest
    finally:
        stop_server(server)


def test_metrics_add_up_across_workers_and_logs_are_json(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", {"OSDEPOT_WORKERS": "2", "OSDEPOT_LOG_FORMAT": "json"})
    try:
        wait_for_workers(server)
        s = server.session()
        sizes = 0
        for i in range(6):
            r = requests.Session()  # fresh connections land on both workers
            r.verify, r.trust_env = s.verify, False
            r.cookies, r.headers = s.cookies, s.headers
            jid = r.post(server.url + "/osImages?imageType=SCRIPT", json={"Action": "Init"})
            body = f"echo {i}\n".encode() * (i + 1)
            up = r.post(
                server.url + f"/files/osImages?jobId={jid.json()['jobId']}&os=rhel",
                files={"uploadedfile": (f"s{i}.sh", body)},
            )
            assert up.status_code == 201, up.text
            sizes += len(body)
        # Whichever worker answers /metrics, it adds up the counters of both.
        for _ in range(6):
            m = requests.get(
                server.url + "/metrics", verify=s.verify, timeout=10, auth=(ADMIN, ADMIN_PW)
            ).text
            line = next(
                ln for ln in m.splitlines()
                if ln.startswith('osdepot_upload_bytes_received_total{source="upload"}')
            )  # fmt: skip
            assert float(line.split()[-1]) == sizes
            assert 'osdepot_jobs{state="Complete"} 6.0' in m
    finally:
        stop_server(server)
    lines = [ln for ln in server.log.read_text().splitlines() if ln.startswith("{")]
    records = [json.loads(ln) for ln in lines]
    uploads = [
        r for r in records if r.get("event") == "request" and r.get("path") == "/files/osImages"
    ]
    assert len(uploads) == 6 and {r["status"] for r in uploads} == {201}
    assert {r["user"] for r in uploads} == {"e2eadmin"}
    jobs = [r for r in records if r.get("event") == "job"]
    assert [r["status"] for r in jobs].count("Complete") == 6
    assert "e2e-admin-password" not in server.log.read_text()
