"""Attacks on remote imports (hard to break, round two): a stored password sent to a
new target (#4), raw remote replies shown to read-only roles, networks imports may not
reach (#11), and paths that made the HTTP client fail with a 500 (#8)."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from starlette.testclient import TestClient

from osdepot.compose import open_context
from osdepot.config import Settings
from osdepot.web.app import create_app
from tests.conftest import ADMIN, ADMIN_PW, Api, replace
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


def test_read_only_roles_do_not_see_what_a_remote_server_answered(
    api: Api, make_api: Any, http: HttpServer
) -> None:
    port = http.port
    http.stop()
    srv = register(api, protocol="HTTP", port=port)
    job, r = remote_import(api, srv["serverId"], "/scripts/post.sh", "SCRIPT", os="rhel")
    assert r.status_code == 201
    admin_view = wait_done(api, job)["messages"][0]
    assert "Connection refused" in admin_view["explanation"]  # the administrator's view
    operator = make_api("lxc-operator")
    seen = operator.task(job)["messages"][0]
    assert seen["id"] == admin_view["id"] == "FQXHMFC9006M"
    assert "refused" not in seen["explanation"] and str(port) not in seen["explanation"]
    assert "in the server log" in seen["explanation"]
    listed = operator.c.get("/tasks").json()
    assert all("refused" not in json.dumps(t) for t in listed)


@pytest.fixture
def fenced(settings: Settings) -> Settings:
    return replace(settings, remote_deny_networks="127.0.0.0/8, ::1")


def test_a_denied_network_refuses_the_import_before_the_job_starts(
    fenced: Settings, make_api: Any, http: HttpServer
) -> None:

    ctx = open_context(fenced)
    try:
        from osdepot.services.auth import Auth

        Auth(ctx).bootstrap_admin()
        with TestClient(create_app(ctx=ctx), base_url="https://testserver") as c:
            a = Api(c)
            a.login(ADMIN, ADMIN_PW)
            srv = register(a, protocol="HTTP", port=http.port, username=USER, password=PASSWORD)
            for address in ("127.0.0.1", "localhost"):
                a.c.put(
                    f"/osImages/remoteFileServers/{srv['serverId']}",
                    json={"protocol": "HTTP", "port": http.port, "address": address,
                          "displayName": "fenced"},
                )  # fmt: skip
                job, r = remote_import(a, srv["serverId"], "/scripts/post.sh", "SCRIPT", os="rhel")
                assert r.status_code == 403, r.text
                msg = r.json()["messages"][0]
                assert msg["id"] == "FQXHMFC9036J" and "127.0.0.0/8" in msg["explanation"]
                assert a.task(job)["status"] == "Pending"  # the job can still take a file
            assert http.behaviour.transfers == 0
    finally:
        ctx.close()


def test_http_paths_with_a_query_or_fragment_are_refused_before_the_job(
    api: Api, http: HttpServer
) -> None:
    srv = register(api, protocol="HTTP", port=http.port, username=USER, password=PASSWORD)
    for path in ("/scripts/post.sh?x=1", "/scripts/post.sh#frag", "/a?b#c"):
        job, r = remote_import(api, srv["serverId"], path, "SCRIPT", os="rhel")
        assert r.status_code == 400, r.text
        assert "%3F" in r.json()["messages"][0]["explanation"]
        assert api.task(job)["status"] == "Pending"
