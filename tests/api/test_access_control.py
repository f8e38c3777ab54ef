"""Access control: every endpoint × every role, and every way of not being allowed
(no credentials, a wrong password, an expired session, a missing or wrong CSRF token,
another user's job), checked against the privilege table of the contract (§7.4).
Then the login lock: failures slow down, then lock; a supervisor sees and lifts it."""

from __future__ import annotations

import base64
import re
import time
from dataclasses import replace
from typing import Any

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from osdepot.compose import open_context
from osdepot.config import Settings
from osdepot.domain.roles import ROLES, Privilege
from osdepot.services.auth import Auth
from osdepot.services.context import Context
from osdepot.services.recovery import recover
from osdepot.web.app import ROUTES, create_app
from tests.conftest import ADMIN, ADMIN_PW, Api

EDIT, DELETE = Privilege.EDIT_FILES, Privilege.DELETE_FILES
SRV_EDIT, SRV_DELETE = Privilege.EDIT_REMOTE_SERVERS, Privilege.DELETE_REMOTE_SERVERS
DEPLOY, GLOBAL = Privilege.DEPLOY, Privilege.EDIT_GLOBAL_SETTINGS
ANY, PUBLIC, SUPERVISOR = "any user", "public", "supervisor"

#: (method, path as routed, path as requested, body, what it needs) — §7.4's mapping:
#: reads for any user; §1, §2, §4.1–4.4 create-import-export-edit; §4.5 delete-os-files;
#: §5.3/5.5 create-edit-remote-file-server; §5.6 delete-remote-file-server.
MATRIX: list[tuple[str, str, str, Any, str]] = [
    ("POST", "/sessions", "/sessions", {"UserId": "x", "password": "y"}, PUBLIC),
    ("DELETE", "/sessions", "/sessions", None, ANY),
    ("GET", "/aicc", "/aicc", None, ANY),
    ("GET", "/osImages", "/osImages", None, ANY),
    ("POST", "/osImages", "/osImages?imageType=SCRIPT", {"Action": "Init"}, EDIT),
    ("DELETE", "/osImages", "/osImages", None, DELETE),
    ("GET", "/osImages/remoteFileServers", "/osImages/remoteFileServers", None, ANY),
    ("POST", "/osImages/remoteFileServers", "/osImages/remoteFileServers", {}, SRV_EDIT),
    ("GET", "/osImages/remoteFileServers/{sid}", "/osImages/remoteFileServers/99", None, ANY),
    ("PUT", "/osImages/remoteFileServers/{sid}", "/osImages/remoteFileServers/99", {}, SRV_EDIT),
    (
        "DELETE",
        "/osImages/remoteFileServers/{sid}",
        "/osImages/remoteFileServers/99",
        None,
        SRV_DELETE,
    ),
    ("DELETE", "/osImages/{ids:path}", "/osImages/nosuch.iso", None, DELETE),
    ("GET", "/osImages/{ids:path}", "/osImages/nosuch", None, EDIT),
    ("GET", "/osImages/{ids:path}", "/osImages/nosuch.tar.gz", None, ANY),
    ("POST", "/osImages/customSettings", "/osImages/customSettings", {}, EDIT),
    ("POST", "/osImages/{ids:path}", "/osImages/nosuch", {}, EDIT),
    ("PUT", "/osImages/{ids:path}", "/osImages/nosuch", {}, EDIT),
    ("POST", "/files/osImages", "/files/osImages?jobId=999", {"serverId": "1", "path": "/a"}, EDIT),
    ("OPTIONS", "/files/osImages/uploads", "/files/osImages/uploads", None, PUBLIC),
    ("POST", "/files/osImages/uploads", "/files/osImages/uploads?jobId=999", None, EDIT),
    ("OPTIONS", "/files/osImages/uploads/{upload_id}", "/files/osImages/uploads/a1", None, PUBLIC),
    ("GET", "/files/osImages/uploads/{upload_id}", "/files/osImages/uploads/a1", None, EDIT),
    ("PATCH", "/files/osImages/uploads/{upload_id}", "/files/osImages/uploads/a1", None, EDIT),
    ("POST", "/files/osImages/uploads/{upload_id}", "/files/osImages/uploads/a1", None, EDIT),
    ("DELETE", "/files/osImages/uploads/{upload_id}", "/files/osImages/uploads/a1", None, EDIT),
    ("GET", "/tasks", "/tasks", None, ANY),
    ("PUT", "/tasks", "/tasks", {"action": "cancel", "list": ["999"]}, EDIT),
    ("GET", "/tasks/{ids}", "/tasks/999", None, ANY),
    ("PUT", "/tasks/{ids}", "/tasks/999", {"cancelRequest": "true"}, EDIT),
    ("DELETE", "/tasks/{ids}", "/tasks/999", None, EDIT),
    ("PUT", "/jobs/{ids}", "/jobs/999", {"cancelRequest": "true"}, EDIT),
    ("GET", "/userAccounts", "/userAccounts", None, SUPERVISOR),
    ("PUT", "/userAccounts/{name}", "/userAccounts/nobody", {"unlock": True}, SUPERVISOR),
    ("GET", "/healthz", "/healthz", None, PUBLIC),
    ("GET", "/metrics", "/metrics", None, ANY),
    ("GET", "/openapi.json", "/openapi.json", None, PUBLIC),
    ("GET", "/", "/", None, PUBLIC),
    ("GET", "/ui/{name}", "/ui/app.js", None, PUBLIC),
    ("GET", "/files/osImages/{fid}", "/files/osImages/nosuch", None, ANY),
    ("GET", "/files/osImages/{fid}/links", "/files/osImages/nosuch/links", None, EDIT),
    ("POST", "/files/osImages/{fid}/links", "/files/osImages/nosuch/links", {}, EDIT),
    ("DELETE", "/files/osImages/{fid}/links/{lid}", "/files/osImages/no/links/1", None, EDIT),
    ("POST", "/osImages/{image_id}/links", "/osImages/nosuch/links", {}, EDIT),
    ("GET", "/osImages/{image_id}/tree/{path:path}", "/osImages/nosuch/tree/x", None, ANY),
    ("GET", "/hostPlatforms", "/hostPlatforms", None, ANY),
    ("GET", "/hostPlatforms/{uuid}", "/hostPlatforms/" + "A" * 32, None, ANY),
    ("PUT", "/hostPlatforms", "/hostPlatforms", [], DEPLOY),
    # the installer's status call (with the deployment's token; without, an administrator)
    ("PUT", "/hostPlatforms/{uuid}", "/hostPlatforms/" + "A" * 32, {}, DEPLOY),
    # a deployment's files: its token is the credential
    ("GET", "/deployments/{token}/{name}", "/deployments/" + "t" * 43 + "/ks.cfg", None, PUBLIC),
    ("GET", "/osdeployment/globalSettings", "/osdeployment/globalSettings", None, ANY),
    ("PUT", "/osdeployment/globalSettings", "/osdeployment/globalSettings", {}, GLOBAL),
    ("GET", "/osdeployment/hostSettings", "/osdeployment/hostSettings", None, ANY),
    ("POST", "/osdeployment/hostSettings", "/osdeployment/hostSettings", [], DEPLOY),
    ("PUT", "/osdeployment/hostSettings", "/osdeployment/hostSettings", [], DEPLOY),
    ("GET", "/osdeployment/hostSettings/{uuid}", "/osdeployment/hostSettings/x", None, ANY),
    ("DELETE", "/osdeployment/hostSettings/{uuid}", "/osdeployment/hostSettings/x", None, DEPLOY),
    ("GET", "/bmcs", "/bmcs", None, ANY),
    ("POST", "/bmcs", "/bmcs", {}, DEPLOY),
    ("GET", "/bmcs/{bid}", "/bmcs/99", None, ANY),
    ("DELETE", "/bmcs/{bid}", "/bmcs/99", None, DEPLOY),
    ("POST", "/bmcs/{bid}/refresh", "/bmcs/99/refresh", None, DEPLOY),
    # Signed links need no login: a token that does not verify is a 404.
    ("GET", "/links/{token}", "/links/1.2.3", None, PUBLIC),
    ("GET", "/links/{token}/{path:path}", "/links/1.2.3/x", None, PUBLIC),
]
STATE_CHANGING = {"POST", "PUT", "DELETE", "PATCH"}


def allowed(role: str, need: str) -> bool:
    if need in (PUBLIC, ANY):
        return True
    if need == SUPERVISOR:
        return role == "lxc-supervisor"
    return Privilege(need) in ROLES[role]


def basic(user: str, pw: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()}


def call(c: TestClient, method: str, path: str, body: Any, **kw: Any) -> Any:
    return c.request(method, path, json=body, **kw)


def test_the_matrix_covers_every_route() -> None:
    routed = {
        (m, r.path)
        for r in ROUTES
        if isinstance(r, Route) and not (r.path.endswith("/") and r.path != "/")
        for m in (r.methods or set()) - {"HEAD"}
    }
    assert {(m, p) for m, p, *_ in MATRIX} == routed


@pytest.fixture
def users(ctx: Context) -> dict[str, str]:
    """One user per role (the admin fixture user is the supervisor)."""
    out = {}
    for role in ROLES:
        name = "u-" + role.removeprefix("lxc-")
        Auth(ctx).add_user(name, role, "pw-" + name + "-long")
        out[role] = name
    return out


def refused(r: Any, status: int, *ids: str) -> None:
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert body["result"] == "failed" and body["messages"][0]["id"] in ids, body


def test_every_endpoint_for_every_role(app_client: TestClient, users: dict[str, str]) -> None:
    checked = 0
    for role, name in users.items():
        pw = "pw-" + name + "-long"
        # Basic credentials and a session with its CSRF token must be judged alike.
        session = TestClient(app_client.app, base_url="https://testserver")
        r = session.post("/sessions", json={"UserId": name, "password": pw})
        assert r.status_code == 200
        session.headers["X-Csrf-Token"] = r.cookies["csrf"]
        for method, _routed, path, body, need in MATRIX:
            if path == "/sessions":
                continue  # logging in and out: below, once the other rows are done
            for how, r in (
                ("basic", call(app_client, method, path, body, headers=basic(name, pw))),
                ("session", call(session, method, path, body)),
            ):
                if allowed(role, need):
                    assert r.status_code not in (401, 403), (role, how, method, path, r.text)
                    assert r.status_code < 500, (role, how, method, path, r.text)
                else:
                    refused(r, 403, "FQXHMSE9003J")
                checked += 1
        r = session.delete("/sessions")
        assert r.status_code == 200
        assert session.get("/osImages").status_code == 401
        r = session.post("/sessions", json={"UserId": name, "password": pw})
        assert r.status_code == 200  # every role may log in
        checked += 2
    assert checked >= len(ROLES) * len(MATRIX) * 2 - len(ROLES) * 2


def test_every_way_of_not_being_allowed(
    app_client: TestClient, ctx: Context, users: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each failed login is held back (0.5 s by default; the delays are the point of
    # test_failed_logins_slow_down_then_lock): here, where every route meets a locked
    # account, only the answers are.
    monkeypatch.setattr(ctx, "settings", replace(ctx.settings, login_failure_delay=0.01))
    operator = users["lxc-operator"]
    for method, _routed, path, body, need in MATRIX:
        if need == PUBLIC:
            if path != "/sessions":  # wrong credentials there are the point of 401
                r = call(app_client, method, path, body)
                assert r.status_code not in (401, 403), (method, path)
            continue
        # No credentials at all.
        refused(call(app_client, method, path, body), 401, "FQXHMSE9001J")
        # A wrong password (Basic): refused, and after a few the account is locked.
        refused(
            call(app_client, method, path, body, headers=basic(operator, "wrong-password")),
            401,
            "FQXHMSE9002J",
            "FQXHMSE9006J",
        )
        # A made-up session cookie.
        app_client.cookies.set("_sessionId", "forged-token")
        refused(call(app_client, method, path, body), 401, "FQXHMSE9001J")
        app_client.cookies.clear()
    # Locked for the source that guessed (the test client), not for everyone.
    assert ctx.catalog.login_failures("testclient", operator).locked(time.time())
    assert not ctx.catalog.login_failures("192.0.2.1", operator).locked(time.time())
    # A session used without (or with a wrong) CSRF token on state-changing requests.
    r = app_client.post("/sessions", json={"UserId": ADMIN, "password": ADMIN_PW})
    csrf = r.cookies["csrf"]
    for method, _routed, path, body, need in MATRIX:
        if need == PUBLIC or method not in STATE_CHANGING:
            continue
        refused(call(app_client, method, path, body), 403, "FQXHMSE9004J")
        refused(
            call(app_client, method, path, body, headers={"X-Csrf-Token": csrf + "x"}),
            403,
            "FQXHMSE9004J",
        )
    app_client.cookies.clear()


def test_an_expired_session_is_refused_everywhere(settings: Settings) -> None:
    ctx = open_context(replace(settings, session_timeout=1))
    recover(ctx)
    Auth(ctx).bootstrap_admin()
    try:
        with TestClient(create_app(ctx.settings, ctx), base_url="https://testserver") as c:
            r = c.post("/sessions", json={"UserId": ADMIN, "password": ADMIN_PW})
            c.headers["X-Csrf-Token"] = r.cookies["csrf"]
            time.sleep(1.3)
            token = c.cookies["_sessionId"]
            for method, _routed, path, body, need in MATRIX:
                if need == PUBLIC:
                    continue
                c.cookies.set("_sessionId", token)
                r = call(c, method, path, body)
                assert r.status_code == 401, (method, path, r.text)
                assert r.json()["messages"][0]["id"] in ("FQXHMSE9005J", "FQXHMSE9001J")
    finally:
        ctx.close()


def test_another_users_job(app_client: TestClient, ctx: Context, users: dict[str, str]) -> None:
    def client(name: str, pw: str) -> TestClient:
        c = TestClient(app_client.app, base_url="https://testserver")
        r = c.post("/sessions", json={"UserId": name, "password": pw})
        c.headers["X-Csrf-Token"] = r.cookies["csrf"]
        return c

    owner = client(users["lxc-os-admin"], "pw-u-os-admin-long")
    other = client(users["lxc-hw-admin"], "pw-u-hw-admin-long")
    admin = client(ADMIN, ADMIN_PW)
    job = owner.post("/osImages?imageType=SCRIPT", json={"Action": "Init"}).json()["jobId"]
    # Another privileged user may not upload with it, cancel it or remove it …
    r = other.post(
        f"/files/osImages?jobId={job}&os=rhel",
        files={"uploadedfile": ("a.sh", b"#!/bin/sh\necho\n")},
    )
    refused(r, 403, "FQXHMFC9003J")
    theirs = ("FQXHMFC9003J", "FQXHMSE9003J")
    refused(other.put("/tasks", json={"action": "cancel", "list": [job]}), 403, *theirs)
    refused(other.put(f"/tasks/{job}", json={"cancelRequest": "true"}), 403, *theirs)
    refused(other.put(f"/jobs/{job}", json={"cancelRequest": "true"}), 403, *theirs)
    # … but may see it; a supervisor may cancel and remove it.
    assert other.get(f"/tasks/{job}").status_code == 200
    r = admin.put("/tasks", json={"action": "cancel", "list": [job]})
    assert r.status_code == 200 and r.json()[0]["status"] == "Cancelled"
    refused(other.delete(f"/tasks/{job}"), 403, *theirs)
    assert admin.delete(f"/tasks/{job}").status_code == 200


def test_failed_logins_slow_down_then_lock(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    s = replace(settings, login_max_failures=4, login_lockout_seconds=600, login_failure_delay=0.2)
    ctx = open_context(s)
    recover(ctx)
    Auth(ctx).bootstrap_admin()
    Auth(ctx).add_user("alice", "lxc-os-admin", "alice-password")
    try:
        with TestClient(create_app(ctx.settings, ctx), base_url="https://testserver") as c:
            times = []
            for _ in range(3):
                t0 = time.monotonic()
                r = c.post("/sessions", json={"UserId": "alice", "password": "guess"})
                times.append(time.monotonic() - t0)
                refused(r, 401, "FQXHMSE9002J")
            # 0.2 s, 0.4 s, 0.6 s: each failure waits longer.
            assert times[0] >= 0.18 and times[1] >= 0.38 and times[2] >= 0.58, times
            # A wrong Basic password counts too: the fourth failure locks the account.
            r = c.get("/osImages", headers=basic("alice", "guess"))
            refused(r, 401, "FQXHMSE9006J")
            assert "locked until" in r.json()["messages"][0]["explanation"]
            # Now even the right password is refused, in both ways.
            r = c.post("/sessions", json={"UserId": "alice", "password": "alice-password"})
            refused(r, 401, "FQXHMSE9006J")
            refused(
                c.get("/osImages", headers=basic("alice", "alice-password")), 401, "FQXHMSE9006J"
            )
            # A supervisor sees the lock …
            sup = basic(ADMIN, ADMIN_PW)
            accounts = c.get("/userAccounts", headers=sup).json()["response"]
            alice = next(a for a in accounts if a["userName"] == "alice")
            assert alice["accountLocked"] is True and alice["lockedUntil"]
            # … which a non-supervisor may neither see nor lift …
            Auth(ctx).add_user("bob", "lxc-admin", "bob-password")
            refused(
                c.get("/userAccounts", headers=basic("bob", "bob-password")), 403, "FQXHMSE9003J"
            )
            r = c.put(
                "/userAccounts/alice", json={"unlock": True}, headers=basic("bob", "bob-password")
            )
            refused(r, 403, "FQXHMSE9003J")
            refused(
                c.put("/userAccounts/alice", json={"lock": True}, headers=sup), 400, "FQXHMFC9010J"
            )
            refused(
                c.put("/userAccounts/nobody", json={"unlock": True}, headers=sup),
                404,
                "FQXHMFC9016J",
            )
            # … and lifts it.
            r = c.put("/userAccounts/alice", json={"unlock": True}, headers=sup)
            assert r.status_code == 200 and r.json()["response"]["accountLocked"] is False
            r = c.post("/sessions", json={"UserId": "alice", "password": "alice-password"})
            assert r.status_code == 200
            # A success clears the count: three more failures do not lock.
            for _ in range(3):
                c.post("/sessions", json={"UserId": "alice", "password": "nope"})
            r = c.post("/sessions", json={"UserId": "alice", "password": "alice-password"})
            assert r.status_code == 200
        # The log tells what happened, never with a password, right or wrong.
        text = caplog.text
        assert "logins of account alice from testclient locked after 4 failures" in text
        assert "account alice unlocked" in text
        for secret in ("alice-password", "bob-password", ADMIN_PW, "guess", "nope"):
            assert secret not in text
    finally:
        ctx.close()


def test_the_lock_ends_by_itself_and_the_cli_lifts_it(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    from osdepot.cli.main import main

    s = replace(settings, login_max_failures=2, login_lockout_seconds=1, login_failure_delay=0)
    ctx = open_context(s)
    recover(ctx)
    auth = Auth(ctx)
    auth.bootstrap_admin()
    auth.add_user("carol", "lxc-operator", "carol-password")
    try:
        for _ in range(2):
            with pytest.raises(Exception, match=r"FQXHMSE900[26]J"):
                auth.login("carol", "bad", "")
        with pytest.raises(Exception, match="FQXHMSE9006J"):
            auth.login("carol", "carol-password", "")
        assert main(["users", "list", "--data-dir", str(s.data_dir)]) == 0
        assert re.search(r"carol\tlxc-operator\tlocked until", capsys.readouterr().out)
        time.sleep(1.1)
        auth.login("carol", "carol-password", "")  # the lock ended by itself
        for _ in range(2):
            with pytest.raises(Exception, match=r"FQXHMSE900[26]J"):
                auth.login("carol", "bad", "")
        assert main(["users", "unlock", "carol", "--data-dir", str(s.data_dir)]) == 0
        assert "unlocked carol" in capsys.readouterr().out
        auth.login("carol", "carol-password", "")
    finally:
        ctx.close()


def test_an_account_deleted_right_after_its_unlock_is_a_404(
    api: Api, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``osdepot users delete`` between the unlock and the read of the account it
    answers: an assertion failed (a 500)."""
    Auth(ctx).add_user("carol", "lxc-operator", "carol-password-1")
    get_user = ctx.catalog.get_user

    def deleted_meanwhile(name: str) -> Any:
        return None if name == "carol" else get_user(name)

    unlock = Auth.unlock

    def unlock_then_delete(self: Auth, name: str) -> None:
        unlock(self, name)
        monkeypatch.setattr(ctx.catalog, "get_user", deleted_meanwhile)

    monkeypatch.setattr(Auth, "unlock", unlock_then_delete)
    r = api.c.put("/userAccounts/carol", json={"unlock": True})
    assert r.status_code == 404, r.text
    assert r.json()["messages"][0]["id"] == "FQXHMFC9016J"
