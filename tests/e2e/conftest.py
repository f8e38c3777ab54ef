"""A real `osdepot serve` process over TLS on 127.0.0.1, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

ADMIN, ADMIN_PW = "e2eadmin", "e2e-admin-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    data_dir: Path
    proc: subprocess.Popen[bytes]
    log: Path

    def env(self) -> dict[str, str]:
        return {**os.environ, "OSDEPOT_DATA_DIR": str(self.data_dir)}

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "osdepot.cli.main", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=60,
            check=False,
        )

    def session(self, user: str = ADMIN, pw: str = ADMIN_PW) -> requests.Session:
        s = requests.Session()
        s.trust_env = False  # REQUESTS_CA_BUNDLE would override the pinned certificate
        s.verify = str(self.data_dir / "tls" / "cert.pem")
        r = s.post(self.url + "/sessions", json={"UserId": user, "password": pw}, timeout=10)
        assert r.status_code == 200, r.text
        s.headers["X-Csrf-Token"] = s.cookies["csrf"] or ""
        return s


def start_server(
    data_dir: Path, extra_env: dict[str, str] | None = None, log_dir: Path | None = None
) -> Server:
    port = free_port()
    log = (log_dir or data_dir.parent) / f"server-{port}.log"
    env = {
        **os.environ,
        "OSDEPOT_DATA_DIR": str(data_dir),
        "OSDEPOT_ADMIN_USER": ADMIN,
        "OSDEPOT_ADMIN_PASSWORD": ADMIN_PW,
        "OSDEPOT_PORT": str(port),
        "OSDEPOT_HOST": "127.0.0.1",
        "OSDEPOT_SHUTDOWN_TIMEOUT": "2",
        **(extra_env or {}),
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "osdepot.cli.main", "serve"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited:\n" + log.read_text())
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("server did not start:\n" + log.read_text())
    return Server(f"https://127.0.0.1:{port}", data_dir, proc, log)


def stop_server(server: Server) -> None:
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    s = start_server(tmp_path / "data")
    yield s
    stop_server(s)
