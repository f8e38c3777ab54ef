"""The demonstration cluster's pieces, for real: PostgreSQL, SeaweedFS (S3), two
`osdepot serve` nodes and nginx in front (cluster/). pylxca works through the load
balancer with a job made on one node and uploaded on the other; when the node
receiving an upload is killed, the survivor stops its job and aborts its S3
multipart upload; a PostgreSQL restart during idle time is survived."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cluster.balancer import Balancer, find_nginx
from cluster.node import Node
from cluster.ports import free_port
from cluster.postgres import Postgres
from cluster.seaweed import ACCESS_KEY, SECRET_KEY, SeaweedS3

from osdepot.tlscert import ensure_self_signed
from tests.conftest import ADMIN, ADMIN_PW
from tests.media import medium

pytestmark = pytest.mark.e2e
TIMEOUT = 3


class Cluster:
    def __init__(self, root: Path, postgres: Postgres, s3: SeaweedS3) -> None:
        nginx = find_nginx()
        if nginx is None:
            pytest.skip("nginx is missing")
        self.s3 = s3
        self.blob_url = s3.url()
        key = root / "cluster.key"
        key.write_bytes(b"Zm9yIHRoZSB0ZXN0czogYSBmZXJuZXQga2V5ISEhISE=")
        self.env = {
            "OSDEPOT_DATABASE_URL": postgres.fresh_database(),
            "OSDEPOT_BLOB_URL": self.blob_url,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "OSDEPOT_SECRET_KEY_FILE": str(key),
            "OSDEPOT_ADMIN_USER": ADMIN,
            "OSDEPOT_ADMIN_PASSWORD": ADMIN_PW,
            "OSDEPOT_NODE_TIMEOUT": str(TIMEOUT),
        }
        self.nodes = [Node(n, root / n, free_port(), self.env) for n in ("node-a", "node-b")]
        cert, tls_key = ensure_self_signed(root / "tls")
        self.port = free_port()
        self.lb = Balancer(nginx, root / "nginx", [n.port for n in self.nodes], self.port,
                           cert, tls_key)  # fmt: skip
        self.url = f"https://127.0.0.1:{self.port}"

    def uploads(self) -> list[Any]:
        client: Any = self.s3.client()
        prefix = self.blob_url.split("osdepot/", 1)[1].split("?")[0]
        return list(
            client.list_multipart_uploads(Bucket="osdepot", Prefix=prefix).get("Uploads", [])
        )

    def stop(self) -> None:
        self.lb.stop()
        for n in self.nodes:
            n.stop()


@pytest.fixture
def cluster(tmp_path: Path, postgres: Postgres, s3_server: SeaweedS3) -> Iterator[Cluster]:
    c = Cluster(tmp_path, postgres, s3_server)
    yield c
    c.stop()


def test_pylxca_through_the_load_balancer_to_two_nodes(cluster: Cluster, tmp_path: Path) -> None:
    import pylxca

    iso = medium(tmp_path / "rhel.iso", "rhel")
    con = pylxca.connect(cluster.url, ADMIN, ADMIN_PW, noverify="True")
    job = pylxca.osimages(con, subcmd="import", imagetype="OS")["jobId"]
    r = pylxca.osimages(
        con, subcmd="import", imagetype="OS",
        osimages_dict=json.dumps({"jobId": job, "imageName": "x", "os": "rhel", "file": str(iso)}),
    )  # fmt: skip
    assert r["imageId"] == "rhels9.4", r
    listing = pylxca.osimages(con, subcmd="list")
    assert [i["id"] for i in listing["items"]] == ["rhels9.4"]
    # round robin: the job was made on one node and its file uploaded on the other
    made = [
        n.name
        for n in cluster.nodes
        if "POST /osImages/ 201" in (n.root / "server.log").read_text()
    ]
    sent = [
        n.name
        for n in cluster.nodes
        if "POST /files/osImages 201" in (n.root / "server.log").read_text()
    ]
    assert len(made) == 1 and len(sent) == 1 and made != sent, (made, sent)
    assert pylxca.osimages(con, subcmd="delete", id="rhels9.4")["result"] == "success"
    assert cluster.uploads() == []


def test_a_killed_node_leaves_no_multipart_upload(cluster: Cluster) -> None:
    a, b = cluster.nodes
    s = requests.Session()
    s.trust_env = False
    s.auth = (ADMIN, ADMIN_PW)
    job = s.post(f"http://127.0.0.1:{b.port}/osImages?imageType=SCRIPT",
                 json={"Action": "Init"}, timeout=10).json()["jobId"]  # fmt: skip
    boundary = "clusterTest"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="uploadedfile"; '
        'filename="post.sh"\r\n\r\n#!/bin/sh\n'
    ).encode()
    size = 256 << 20
    sock = socket.create_connection(("127.0.0.1", a.port), timeout=30)
    import base64

    auth = base64.b64encode(f"{ADMIN}:{ADMIN_PW}".encode()).decode()
    sock.sendall(
        (
            f"POST /files/osImages?jobId={job}&imageType=SCRIPT&os=rhel HTTP/1.1\r\n"
            f"Host: x\r\nAuthorization: Basic {auth}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {size}\r\n\r\n"
        ).encode()
        + head
        + b"#" * (40 << 20)  # past the first parts of the multipart upload
    )
    deadline = time.monotonic() + 20
    while not cluster.uploads():
        assert time.monotonic() < deadline, "no multipart upload started"
        time.sleep(0.2)
    a.proc.kill()
    a.proc.wait(10)
    killed = time.monotonic()
    while True:
        task = s.get(f"http://127.0.0.1:{b.port}/tasks/{job}", timeout=10).json()[0]
        if task["status"] == "Stopped" or time.monotonic() - killed > TIMEOUT + 10:
            break
        time.sleep(0.2)
    sock.close()
    assert task["status"] == "Stopped" and task["messageID"] == "FQXHMFC9048M", task
    assert time.monotonic() - killed < TIMEOUT + 6
    assert cluster.uploads() == []  # the survivor aborted the dead node's upload


def test_a_restart_of_postgresql_is_survived(cluster: Cluster, postgres: Postgres) -> None:
    s = requests.Session()
    s.trust_env = False
    s.verify = False
    s.auth = (ADMIN, ADMIN_PW)
    assert s.get(f"{cluster.url}/osImages", timeout=10).status_code == 200
    postgres.restart()
    codes = [s.get(f"{cluster.url}/osImages", timeout=10).status_code for _ in range(4)]
    assert codes[-2:] == [200, 200], codes


def test_scripts_cluster_starts_stops_and_starts_again_on_its_data() -> None:
    """`scripts/cluster start`, `status`, `stop` — and `start` again on the folder that
    `stop` says it keeps: that second start failed with initdb's traceback (the
    database cluster was there), and once past it would have printed a new password
    the kept catalog's administrator does not have. The image imported before the
    stop is there after, under the same password."""
    import subprocess
    import sys

    if find_nginx() is None:
        pytest.skip("nginx is missing")
    import shutil
    import tempfile

    root = Path(__file__).resolve().parents[2]
    # (not under tmp_path: PostgreSQL runs as the postgres account, which may not
    # enter pytest's folders)
    where, port = Path(tempfile.mkdtemp(prefix="osdepot-cluster-")), free_port()

    def run(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "cluster", *args, "--dir", str(where)],
            cwd=root, capture_output=True, text=True, timeout=240,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def login() -> tuple[str, str]:
        info = json.loads((where / "cluster.json").read_text())
        return info["admin"], info["password"]

    run("start", "--port", str(port))
    try:
        assert "running" in run("status") or "node-a" in run("status")
        auth, url = login(), f"https://127.0.0.1:{port}"
        body = b"#!/bin/sh\necho kept\n"
        job = requests.post(f"{url}/osImages?imageType=SCRIPT", json={"Action": "Init"},
                            auth=auth, verify=False, timeout=30).json()["jobId"]  # fmt: skip
        r = requests.post(
            f"{url}/files/osImages?jobId={job}&os=rhel", auth=auth, verify=False, timeout=60,
            files={"uploadedfile": ("kept.sh", body)},
        )  # fmt: skip
        assert r.status_code == 201, r.text
    finally:
        run("stop")
    run("start", "--port", str(port))
    try:
        assert login() == auth
        got = requests.get(f"{url}/osImages", auth=auth, verify=False, timeout=30)
        assert got.status_code == 200, got.text
        assert [f["name"] for f in got.json()["installScriptFiles"]] == ["kept.sh"]
    finally:
        run("stop")
        shutil.rmtree(where, ignore_errors=True)
