from __future__ import annotations

import base64
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.testclient import TestClient

from osdepot.services.context import Context
from osdepot.web.app import create_app
from tests.conftest import ADMIN, ADMIN_PW, Api


def basic(user: str, pw: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()}


def test_login_sets_session_and_csrf_cookies(app_client: TestClient) -> None:
    r = app_client.post("/sessions", json={"UserId": ADMIN, "password": ADMIN_PW})
    assert r.status_code == 200
    assert r.json()["result"] == "success"
    cookies = r.headers.get_list("set-cookie")
    assert any(c.startswith("_sessionId=") and "HttpOnly" in c and "Secure" in c for c in cookies)
    assert any(c.startswith("csrf=") and "HttpOnly" not in c for c in cookies)


def test_wrong_password_and_bad_body(app_client: TestClient) -> None:
    r = app_client.post("/sessions", json={"UserId": ADMIN, "password": "nope"})
    assert r.status_code == 401
    assert r.json()["result"] == "failed"
    assert r.json()["messages"][0]["id"] == "FQXHMSE9002J"
    json_type = {"Content-Type": "application/json"}
    assert app_client.post("/sessions", content=b"{not json", headers=json_type).status_code == 400
    # Not sent as JSON (what a cross-site form or a type-less fetch() sends): 415.
    assert app_client.post("/sessions", content=b"{not json").status_code == 415
    assert app_client.post("/sessions", json=["x"]).status_code == 400


def test_every_endpoint_needs_credentials(app_client: TestClient) -> None:
    for method, path in [
        ("GET", "/osImages"),
        ("POST", "/osImages"),
        ("GET", "/tasks"),
        ("GET", "/aicc"),
        ("DELETE", "/sessions"),
        ("PUT", "/tasks"),
        ("POST", "/files/osImages?jobId=1"),
        ("DELETE", "/osImages/x"),
        ("GET", "/tasks/1"),
        ("DELETE", "/tasks/1"),
    ]:
        r = app_client.request(method, path)
        assert r.status_code == 401, (method, path)
        body = r.json()
        assert body["result"] == "failed" and body["messages"][0]["recovery"]["URL"] == ""


def test_csrf_is_required_for_session_writes(app_client: TestClient) -> None:
    r = app_client.post("/sessions", json={"UserId": ADMIN, "password": ADMIN_PW})
    assert r.status_code == 200
    assert app_client.get("/osImages").status_code == 200  # reads need no token
    r = app_client.post("/osImages", json={"Action": "Init"})
    assert r.status_code == 403
    assert r.json()["messages"][0]["id"] == "FQXHMSE9004J"
    r = app_client.post("/osImages", json={"Action": "Init"}, headers={"X-Csrf-Token": "bad"})
    assert r.status_code == 403
    r = app_client.post(
        "/osImages", json={"Action": "Init"}, headers={"X-Csrf-Token": app_client.cookies["csrf"]}
    )
    assert r.status_code == 201


def test_basic_auth_needs_no_csrf(ctx: Context) -> None:
    with TestClient(create_app(ctx.settings, ctx), base_url="https://testserver") as c:
        r = c.post(
            "/osImages?imageType=SCRIPT", json={"Action": "init"}, headers=basic(ADMIN, ADMIN_PW)
        )
        assert r.status_code == 201
        assert c.get("/tasks", headers=basic(ADMIN, "wrong")).status_code == 401
        assert c.get("/tasks", headers={"Authorization": "Basic !!!"}).status_code == 401
        assert c.get("/tasks", headers=basic(ADMIN, ADMIN_PW)).status_code == 200


def test_session_expires_after_inactivity(ctx: Context) -> None:
    now = [1000.0]
    ctx.clock = lambda: now[0]
    ctx.settings = replace(ctx.settings, session_timeout=60)
    with TestClient(create_app(ctx.settings, ctx), base_url="https://testserver") as c:
        Api(c).login(ADMIN, ADMIN_PW)
        now[0] += 50
        assert c.get("/osImages").status_code == 200
        now[0] += 50  # activity at +50 kept it alive
        assert c.get("/osImages").status_code == 200
        now[0] += 61
        r = c.get("/osImages")
        assert r.status_code == 401
        assert r.json()["messages"][0]["id"] == "FQXHMSE9005J"


def test_logout_and_aicc(api: Api) -> None:
    assert api.c.get("/aicc").json()["appliance"]["name"] == "osdepot"
    r = api.c.request("DELETE", "/sessions", content=b"{}")
    assert r.status_code == 200 and r.json() == {"result": "success", "messages": []}
    assert api.c.get("/osImages").status_code == 401


def test_unknown_endpoint_and_method_are_json(api: Api) -> None:
    r = api.c.get("/nothing-here")
    assert r.status_code == 404 and r.json()["result"] == "failed"
    r = api.c.patch("/osImages")
    assert r.status_code == 405 and r.json()["result"] == "failed"


def test_roles(make_api) -> None:  # type: ignore[no-untyped-def]
    op = make_api("lxc-operator")
    assert op.c.get("/osImages").status_code == 200
    assert op.c.get("/tasks").status_code == 200
    r = op.c.post("/osImages?imageType=OS", json={"Action": "Init"})
    assert r.status_code == 403
    assert r.json()["messages"][0]["id"] == "FQXHMSE9003J"
    assert op.c.delete("/osImages/x").status_code == 403
    assert op.c.put("/tasks", json={"action": "cancel", "list": ["1"]}).status_code == 403
    for role in ("lxc-os-admin", "lxc-admin", "lxc-hw-admin", "lxc-supervisor"):
        a = make_api(role)
        assert a.c.post("/osImages?imageType=OS", json={"Action": "Init"}).status_code == 201
        assert a.c.delete("/osImages/unknown").status_code == 404


def test_a_deleted_user_is_refused_within_the_user_cache_time(
    ctx: Context, make_api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time as _time

    import osdepot.services.auth as auth_mod

    monkeypatch.setattr(auth_mod, "USER_CACHE_SECONDS", 0.3)
    api = make_api("lxc-os-admin", "shortlived")
    assert api.c.get("/osImages").status_code == 200
    auth_mod.Auth(ctx).delete_user("shortlived")  # as `osdepot users delete` would
    _time.sleep(0.4)
    r = api.c.get("/osImages")
    assert r.status_code == 401


def test_sessions_remembered_in_memory_are_checked_alike(app_client: TestClient) -> None:
    """After a first request the session is answered from memory: the CSRF check, a
    logout and another session's token still work as before."""
    r = app_client.post("/sessions", json={"UserId": ADMIN, "password": ADMIN_PW})
    csrf = r.cookies["csrf"]
    assert app_client.get("/tasks").status_code == 200  # now in memory
    assert app_client.get("/tasks").status_code == 200
    for headers in ({}, {"X-Csrf-Token": csrf + "x"}):
        r = app_client.post("/osImages?imageType=SCRIPT", json={"Action": "Init"}, headers=headers)
        assert r.status_code == 403 and r.json()["messages"][0]["id"] == "FQXHMSE9004J"
    r = app_client.post(
        "/osImages?imageType=SCRIPT", json={"Action": "Init"}, headers={"X-Csrf-Token": csrf}
    )
    assert r.status_code == 201
    token = app_client.cookies["_sessionId"]
    assert app_client.delete("/sessions", headers={"X-Csrf-Token": csrf}).status_code == 200
    app_client.cookies.set("_sessionId", token)
    r = app_client.get("/tasks")  # the logout took effect at once in this process
    assert r.status_code == 401


def test_basic_credentials_answered_from_memory_are_checked_alike(
    app_client: TestClient,
) -> None:
    """Basic credentials verified a moment ago are answered from memory, on the event
    loop; a wrong password, a changed password and a lock still take effect at once."""
    auth = app_client.app.state.auth  # type: ignore[attr-defined]

    def basic(password: str) -> dict[str, str]:
        return {
            "Authorization": "Basic " + base64.b64encode(f"{ADMIN}:{password}".encode()).decode()
        }

    assert auth.cached_basic_user(ADMIN, ADMIN_PW) is None  # nothing in memory yet
    assert app_client.get("/tasks", headers=basic(ADMIN_PW)).status_code == 200
    assert auth.cached_basic_user(ADMIN, ADMIN_PW).name == ADMIN  # now answered from memory
    assert auth.cached_basic_user(ADMIN, "not-the-password") is None
    r = app_client.get("/tasks", headers=basic("not-the-password"))
    assert r.status_code == 401 and r.json()["messages"][0]["id"] == "FQXHMSE9002J"
    assert app_client.get("/tasks", headers=basic(ADMIN_PW)).status_code == 200
    auth.set_password(ADMIN, "a-new-password-1")
    assert auth.cached_basic_user(ADMIN, ADMIN_PW) is None
    assert app_client.get("/tasks", headers=basic(ADMIN_PW)).status_code == 401
    assert app_client.get("/tasks", headers=basic("a-new-password-1")).status_code == 200


def test_basic_credentials_in_use_stay_remembered_up_to_an_hour(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Remembered for 60 s after their last use (a client that keeps sending them does
    not meet an argon2 check, 64 MiB, in the middle of an upload), never longer than an
    hour after the password was checked; a changed password is never remembered."""
    import osdepot.services.auth as auth_mod
    from osdepot.domain.records import User

    now = [1000.0]
    monkeypatch.setattr(auth_mod, "time", SimpleNamespace(monotonic=lambda: now[0]))
    cache = auth_mod.BasicCache()
    user = User(name="ops", role="lxc-os-admin", password_hash="$argon2id$one", created_at=0.0)
    cache.add(user, "pw")
    for _ in range(40):  # used every 50 s: more than the 60 s since the check
        now[0] += 50
        assert cache.check(user, "pw")
    assert not cache.check(user, "other")
    assert not cache.check(replace(user, password_hash="$argon2id$two"), "pw")
    now[0] += 61  # unused for longer than 60 s
    assert not cache.check(user, "pw")

    cache.add(user, "pw")  # checked again
    checked = now[0]
    while now[0] + 50 < checked + 3600:
        now[0] += 50
        assert cache.check(user, "pw")
    now[0] = checked + 3600  # an hour after the check, however often used
    assert not cache.check(user, "pw")


@pytest.mark.parametrize("change", ["passwd", "delete"])
def test_a_password_changed_during_a_login_opens_no_session(
    ctx: Context, app_client: TestClient, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    """`osdepot users passwd` (or `delete`) lands while a login checks the old password
    (argon2 takes tens of milliseconds; someone who knows the old password can log in
    in a loop): the login opens no session, which would outlive the change."""
    import osdepot.services.auth as auth_mod

    admin = auth_mod.Auth(ctx)  # as the CLI's own process would
    admin.add_user("mallory", "lxc-os-admin", "the-old-password-1")
    real = auth_mod.verify_password

    def changed_meanwhile(user: Any, password: str) -> bool:
        ok = real(user, password)
        if change == "passwd":
            admin.set_password("mallory", "the-new-password-1")
        else:
            admin.delete_user("mallory")
        return ok

    monkeypatch.setattr(auth_mod, "verify_password", changed_meanwhile)
    r = app_client.post("/sessions", json={"UserId": "mallory", "password": "the-old-password-1"})
    monkeypatch.undo()
    assert r.status_code == 401, r.text
    assert r.json()["messages"][0]["id"] == "FQXHMSE9002J"
    assert "_sessionId" not in r.cookies
    assert app_client.get("/osImages").status_code == 401
    if change == "passwd":
        r = app_client.post(
            "/sessions", json={"UserId": "mallory", "password": "the-new-password-1"}
        )
        assert r.status_code == 200
        assert app_client.get("/osImages").status_code == 200
