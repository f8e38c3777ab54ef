"""Attack (hard to break, round two, #4): an administrator points an existing profile
with a stored password at a listener of their own and starts an import, hoping that
the stored password is sent there. It must not be."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.conftest import Api
from tests.remote.conftest import register, remote_import, wait_done
from tests.remote.servers import PASSWORD, USER, HttpServer


class _Listener(BaseHTTPRequestHandler):
    seen: list[str | None]

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        type(self).seen.append(self.headers.get("Authorization"))
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def listener() -> Iterator[tuple[int, list[str | None]]]:
    seen: list[str | None] = []
    handler = type("Listener", (_Listener,), {"seen": seen})
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv.server_address[1], seen
    srv.shutdown()
    srv.server_close()


def test_a_stored_password_is_never_sent_to_a_new_target(
    api: Api, http: HttpServer, listener: tuple[int, list[str | None]]
) -> None:
    port, seen = listener
    srv = register(api, protocol="HTTP", port=http.port, username=USER, password=PASSWORD)
    sid = srv["serverId"]
    # The profile works with its stored password.
    job, r = remote_import(api, sid, "/scripts/post.sh", "SCRIPT", os="rhel")
    assert r.status_code == 201, r.text
    assert wait_done(api, job)["status"] == "Complete"
    # Pointed elsewhere without the password: it is dropped, and the answer says so …
    r = api.c.put(
        f"/osImages/remoteFileServers/{sid}",
        json={"protocol": "HTTP", "port": port, "address": "127.0.0.1"},
    )
    assert r.status_code == 200
    body = r.json()
    assert body["hasPassword"] is False and body["droppedSecrets"] == ["password"]
    assert "dropped" in body["messages"][0]["text"]
    # … so an import from there never carries the password (the user name, which is
    # not a secret and is listed to every reader, may go with an empty one).
    job, r = remote_import(api, sid, "/scripts/post.sh", "SCRIPT", os="rhel")
    assert r.status_code == 201, r.text
    wait_done(api, job)
    assert seen
    for header in seen:
        sent = base64.b64decode(header.split()[1]).decode() if header else ""
        assert PASSWORD not in sent and sent in ("", f"{USER}:"), sent
    # TLS verification switched off on an HTTPS profile counts as a new target too.
    srv2 = register(
        api, protocol="HTTPS", port=1443, displayName="tls", username=USER, password=PASSWORD
    )
    r = api.c.put(
        f"/osImages/remoteFileServers/{srv2['serverId']}",
        json={
            "protocol": "HTTPS",
            "port": 1443,
            "address": "127.0.0.1",
            "displayName": "tls",
            "skipCertificateVerification": True,
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["hasPassword"] is False and r.json()["droppedSecrets"] == ["password"]
