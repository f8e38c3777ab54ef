"""Reproductions of the attacks of "hard to break, round two" that need no real server:
cross-site requests (#5), telling accounts apart and locking them (#6), content checks
with unbounded CPU (#7), odd input that made 500s (#8), forged log lines (#9) and one
user reserving all free space (#11). Each failed to be refused before its fix."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import struct
import time
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from osdepot.compose import open_context
from osdepot.config import Settings
from osdepot.content.inspect import inspect_path
from osdepot.domain.images import FAMILIES, ImageType
from osdepot.errors import OsdepotError
from osdepot.logsetup import TextFormatter
from osdepot.services.auth import Auth
from osdepot.services.context import Context
from osdepot.services.gate import PasswordGate
from osdepot.services.recovery import recover
from osdepot.web.app import create_app
from tests.conftest import ADMIN, ADMIN_PW, Api, at_once, side_by_side
from tests.samples import VALID

JSON = {"Content-Type": "application/json"}


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


# -- #5 cross-site requests ---------------------------------------------------------------


def test_a_cross_site_form_cannot_create_a_remote_server(app_client: TestClient) -> None:
    body = json.dumps({"protocol": "HTTP", "address": "198.51.100.7", "port": 80})
    creds = basic(ADMIN, ADMIN_PW)
    # What a form on another site can send: text/plain (no CORS preflight), with the
    # Basic credentials a browser remembered.
    for ctype in ("text/plain", "application/x-www-form-urlencoded", ""):
        headers = {**creds, "Content-Type": ctype} if ctype else creds
        r = app_client.post("/osImages/remoteFileServers", content=body, headers=headers)
        assert r.status_code == 415, r.text
        assert r.json()["messages"][0]["id"] == "FQXHMFC9033J"
    # Marked by the browser as coming from another site: refused whatever the body.
    for marks in (
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": "https://other.testserver"},
        {"Origin": "http://testserver"},  # another scheme is another origin
    ):
        r = app_client.post(
            "/osImages/remoteFileServers", content=body, headers={**creds, **JSON, **marks}
        )
        assert r.status_code == 403, (marks, r.text)
        assert r.json()["messages"][0]["id"] == "FQXHMSE9007J"
        r = app_client.get("/osImages", headers={**creds, **marks})
        assert r.status_code == 403, marks
    assert app_client.get("/osImages/remoteFileServers", headers=creds).json()["serverList"] == []
    # The same origin, a browser's own navigation, and clients that are not browsers pass.
    same = {"Origin": "https://testserver", "Sec-Fetch-Site": "same-origin"}
    r = app_client.post(
        "/osImages/remoteFileServers", content=body, headers={**creds, **JSON, **same}
    )
    assert r.status_code == 200, r.text
    nav = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}
    assert app_client.get("/", headers=nav).status_code == 200
    assert (
        app_client.post("/sessions", json={"UserId": ADMIN, "password": ADMIN_PW}).status_code
        == 200
    )


# -- #6 accounts told apart, accounts locked by anyone ---------------------------------------


@pytest.fixture
def lockable(settings: Settings) -> Any:
    s = replace(settings, login_max_failures=3, login_failure_delay=0.05, login_burst=100)
    ctx = open_context(s)
    recover(ctx)
    Auth(ctx).bootstrap_admin()
    Auth(ctx).add_user("victim", "lxc-os-admin", "victim-password")
    yield ctx
    ctx.close()


def _answers(c: TestClient, name: str, n: int) -> list[tuple[int, str, str, float]]:
    out = []
    for _ in range(n):
        t0 = time.monotonic()
        r = c.post("/sessions", json={"UserId": name, "password": "wrong-guess-1"})
        msg = r.json()["messages"][0]
        out.append(
            (r.status_code, msg["id"], msg["text"].replace(name, "NAME"), time.monotonic() - t0)
        )
    return out


@pytest.mark.real_password_hashes
def test_known_and_unknown_names_answer_alike_and_a_lock_stops_only_the_guesser(
    lockable: Context,
) -> None:
    app = create_app(ctx=lockable)
    with TestClient(app, base_url="https://testserver") as c:
        known = _answers(c, "victim", 5)
        unknown = _answers(c, "no-such-user", 5)
        # Same statuses, message ids and texts (the name aside), and the same growing
        # delays: 0.05, 0.10, then the lock at the third failure, for both.
        assert [a[:3] for a in known] == [a[:3] for a in unknown]
        assert [a[1] for a in known] == ["FQXHMSE9002J"] * 2 + ["FQXHMSE9006J"] * 3
        for k, u in zip(known, unknown, strict=True):
            assert abs(k[3] - u[3]) < 0.5, (known, unknown)
        # The guesser (this client's address) is locked out, even with the password …
        r = c.post("/sessions", json={"UserId": "victim", "password": "victim-password"})
        assert r.status_code == 401 and r.json()["messages"][0]["id"] == "FQXHMSE9006J"
    # … but the account's owner, from another address, is not.
    app2 = create_app(ctx=lockable)
    with TestClient(app2, base_url="https://testserver", client=("192.0.2.10", 50000)) as c2:
        r = c2.post("/sessions", json={"UserId": "victim", "password": "victim-password"})
        assert r.status_code == 200, r.text
    # The supervisor still sees the lock (of one source) and can lift it.
    victim = next(u for u in lockable.catalog.list_users() if u.name == "victim")
    assert victim.locked_until and victim.locked_until > time.time()


def test_credentials_no_user_can_have_are_refused_and_nothing_of_them_kept(
    lockable: Context, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: each failed login stored its name in the catalog whole (12 logins with
    900 KB names: 5.6 MB of rows, kept 15 minutes), a lock kept it in memory and wrote
    it to the log, and Basic credentials kept it in the user cache (4,096 names of
    48 KB: 192 MiB), all before any login."""
    app = create_app(ctx=lockable)
    auth: Auth = app.state.auth
    long_names = [f"{i}" + "x" * 900_000 for i in range(4)]
    odd = ["with space", "semi;colon", "ünïcode", "x" * 65]
    caplog.set_level(logging.INFO)
    with TestClient(app, base_url="https://testserver") as c:
        for name in long_names + odd:
            for _ in range(4):  # past login_max_failures (3): no lock either
                r = c.post("/sessions", json={"UserId": name, "password": "wrong-guess-1"})
                assert r.status_code == 401, r.text
                assert r.json()["messages"][0]["id"] == "FQXHMSE9002J"
        for i in range(20):
            r = c.get("/aicc", headers=basic(f"{i}" + "y" * 40_000, "wrong-guess-1"))
            assert r.status_code == 401 and r.json()["messages"][0]["id"] == "FQXHMSE9002J"
        # A password longer than any user can have: refused, never counted against the
        # account (four tries, the lock is at three) — the right one still opens it.
        for _ in range(4):
            r = c.post("/sessions", json={"UserId": "victim", "password": "p" * 1025})
            assert r.status_code == 401 and r.json()["messages"][0]["id"] == "FQXHMSE9002J"
            r = c.get("/aicc", headers=basic("victim", "p" * 40_000))
            assert r.status_code == 401
        r = c.post("/sessions", json={"UserId": "victim", "password": "victim-password"})
        assert r.status_code == 200, r.text
        # A name of the right form is still counted and locked as before.
        for _ in range(3):
            c.post("/sessions", json={"UserId": "no-such-user", "password": "wrong-guess-1"})
        r = c.post("/sessions", json={"UserId": "no-such-user", "password": "wrong-guess-1"})
        assert r.json()["messages"][0]["id"] == "FQXHMSE9006J"
    for name in long_names + odd:
        assert lockable.catalog.login_failures("testclient", name).failures == 0
        assert not lockable.catalog.login_failures("testclient", name).locked_until
    assert lockable.catalog.login_failures("testclient", "victim").failures == 0
    assert all(len(name) <= 64 for name in auth._users)
    assert all(len(name) <= 64 for _, name in auth._locks)
    assert max(len(r.getMessage()) for r in caplog.records) < 1000


# -- #3 the password gate, unit by unit -----------------------------------------------------


def test_the_gate_throttles_an_address_and_bounds_checks_at_once() -> None:
    async def scenario() -> None:
        gate = PasswordGate(slots=2, rate=0.001, burst=3, queue=2)
        for _ in range(3):  # three failures use up the bucket …
            with pytest.raises(OsdepotError):
                async with gate.check("198.51.100.1"):
                    raise OsdepotError.__new__(OsdepotError)
        with pytest.raises(OsdepotError) as throttled:
            async with gate.check("198.51.100.1"):
                pass
        assert throttled.value.status == 429 and int(throttled.value.headers["Retry-After"]) >= 1
        # … not another address's; and a success gives its token back.
        for _ in range(5):
            async with gate.check("198.51.100.2"):
                pass
        # A check that could not be made (the catalog unreachable: the two-node cluster
        # with PostgreSQL down answered 429 "Too many logins" instead of 503) gives its
        # token back too.
        for _ in range(5):
            with pytest.raises(RuntimeError):
                async with gate.check("198.51.100.3"):
                    raise RuntimeError("connection to the catalog refused")
        async with gate.check("198.51.100.3"):
            pass
        # Two checks run, two wait; the fifth is refused at once (503, Retry-After).
        release = asyncio.Event()
        running = 0

        async def check(address: str) -> None:
            nonlocal running
            async with gate.check(address):
                running += 1
                await release.wait()

        tasks = [asyncio.create_task(check(f"203.0.113.{i}")) for i in range(4)]
        await asyncio.sleep(0.05)
        assert running == 2 and gate.running == 4
        with pytest.raises(OsdepotError) as busy:
            async with gate.check("203.0.113.99"):
                pass
        assert busy.value.status == 503 and busy.value.headers["Retry-After"] == "1"
        release.set()
        await asyncio.gather(*tasks)
        assert running == 4 and gate.running == 0

    asyncio.run(scenario())


# -- #7 content checks with unbounded CPU -------------------------------------------------


def hostile_rpm(tags: int = 300, entries: int = 1_000_000) -> bytes:
    """A 1 MB RPM whose header declares ``tags`` string arrays of ``entries`` strings
    each, all over the same megabyte of empty strings."""
    lead = b"\xed\xab\xee\xdb\x03\x00\x00\x00" + b"\x00" * 88
    sig = b"\x8e\xad\xe8\x01\x00\x00\x00\x00" + struct.pack(">II", 1, 4)
    sig += struct.pack(">IIII", 1000, 4, 0, 1) + b"\x00" * 4
    named = [
        (1000, 6, b"kmod-evil\x00"),
        (1001, 6, b"1\x00"),
        (1002, 6, b"1\x00"),
        (1022, 6, b"x86_64\x00"),
    ]
    index, store = b"", b""
    for tag, typ, data in named:
        index += struct.pack(">IIII", tag, typ, len(store), 1)
        store += data
    arrays_at = len(store)
    store += b"\x00" * entries
    for i in range(tags):
        index += struct.pack(">IIII", 1117 if i == 0 else 5000 + i, 8, arrays_at, entries)
    head = b"\x8e\xad\xe8\x01\x00\x00\x00\x00" + struct.pack(">II", len(named) + tags, len(store))
    return lead + sig + head + index + store + b"\x1f\x8b payload"


def test_content_checks_are_bounded_by_what_they_read(api: Api, tmp_path: Path) -> None:
    # 300 tags x 1M entries took 54 s of CPU; now only the tags osdepot reads are parsed,
    # each bounded by the size of the store: well within a CPU budget of 10 s.
    evil = tmp_path / "evil.rpm"
    evil.write_bytes(hostile_rpm())
    result = inspect_path(evil, ImageType.DUD, FAMILIES["rhel"], "evil.rpm", cpu_budget=10.0)
    assert result.error is None or result.error.message_id != "FQXHMFC9034J"
    # An array count beyond the room left in the store is damage, not a loop.
    evil.write_bytes(hostile_rpm(1, 5_000_000)[:-2_000_000])
    result = inspect_path(evil, ImageType.DUD, FAMILIES["rhel"], "evil.rpm", cpu_budget=10.0)
    assert result.error is not None and result.error.message_id == "FQXHMFC9021J"
    # A script declaring a codec that is no character set (punycode is quadratic).
    script = b"#!/usr/bin/python3\n# coding: punycode\n" + b"a" * 600_000 + b"-\n"
    r = api.upload(api.init("SCRIPT"), "evil.sh", script, os="rhel")
    assert r.status_code == 400, r.text
    assert "not a text encoding" in r.json()["messages"][0]["explanation"]
    # A declared character set still works.
    r = api.upload(
        api.init("SCRIPT"), "ok.sh", b"#!/bin/sh\n# coding: latin-1\necho \xe9\n", os="rhel"
    )
    assert r.status_code == 201, r.text


def test_content_checks_have_a_cpu_budget(settings: Settings) -> None:
    ctx = open_context(replace(settings, content_check_cpu_seconds=1e-9))
    recover(ctx)
    Auth(ctx).bootstrap_admin()
    try:
        with TestClient(create_app(ctx=ctx), base_url="https://testserver") as c:
            a = Api(c)
            a.login(ADMIN, ADMIN_PW)
            name, query, content = VALID["SOFTWARE"]
            job = a.init("SOFTWARE")
            r = a.upload(job, name, content, None, **query)
            assert r.status_code == 400, r.text
            msg = r.json()["messages"][0]
            assert msg["id"] == "FQXHMFC9034J" and "CPU time" in msg["explanation"]
            assert a.task(job)["status"] == "Stopped"
            assert a.listing()["softwareFiles"] == []
    finally:
        ctx.close()


# -- #8 odd input that made 500s ----------------------------------------------------------


def test_a_deeply_nested_config_file_is_invalid_content(api: Api) -> None:
    nested = b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    r = api.upload(api.init("CONFIG"), "deep.json", nested, os="rhel")
    assert r.status_code == 400, r.text
    assert "nested" in r.json()["messages"][0]["explanation"]
    r = api.c.post("/osImages?imageType=SCRIPT", content=b"[" * 200_000, headers=JSON)
    assert r.status_code == 400, r.text


_SETTINGS = {
    "activeDirectory": {"allDomains": [], "defaultDomain": ""},
    "credentials": [],
    "ipAssignment": "dhcpv4",
    "isVLANMode": False,
    "licenseKeys": {},
}


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/osImages/customSettings", "customConfigValues"),
        ("/osdeployment/globalSettings", "licenseKeys"),
        ("/osdeployment/globalSettings", "activeDirectory"),
    ],
)
def test_deeply_nested_json_given_as_text_is_a_clear_refusal(api: Api, path: str, key: str) -> None:
    """Objects the API takes as JSON or as a JSON text (the Ruby client's schema sends
    some as strings): a text nested deeper than the parser follows raised a
    RecursionError where a ValueError was caught, a 500."""
    before = api.c.get("/osdeployment/globalSettings").json()
    deep = '{"a":' * 5000 + "1" + "}" * 5000
    if path == "/osImages/customSettings":
        r = api.c.post(path, json={key: deep})
    else:
        r = api.c.put(path, json={**_SETTINGS, key: deep})
    assert r.status_code == 400, r.text
    assert "nested more deeply" in r.text, r.text
    assert api.c.get("/osdeployment/globalSettings").json() == before


ODD = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="/?#%"), min_size=1, max_size=20
)


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(raw=st.one_of(ODD, st.sampled_from(["²", "١٢", "٣", "⁴2", "1²", "𝟙", "Ⅻ", "½"])))
def test_odd_ids_are_refused_never_a_500(api: Api, raw: str) -> None:
    seg = quote(quote(raw, safe=""), safe="")  # the test client decodes twice
    for method, path in (
        ("GET", f"/tasks/{seg}"),
        ("DELETE", f"/tasks/{seg}"),
        ("GET", f"/osImages/remoteFileServers/{seg}"),
        ("DELETE", f"/osImages/remoteFileServers/{seg}"),
    ):
        r = api.c.request(method, path)
        assert r.status_code < 500, (method, path, r.text)
    job = api.init("SCRIPT")
    r = api.c.post(f"/files/osImages?jobId={job}&os=rhel", json={"serverId": raw, "path": "/a.sh"})
    assert r.status_code < 500, r.text
    assert r.json()["result"] == "failed"


# -- #9 forged log lines -----------------------------------------------------------------


def test_no_value_can_forge_a_log_line(
    app_client: TestClient, api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "osdepot")
    forged = "\r\n2026-12-01 22:30:00,000 WARNING osdepot.auth: account admin unlocked\x00"
    app_client.get("/x" + quote(quote(forged, safe=""), safe=""))  # decoded twice
    records = [r for r in caplog.records if r.name == "osdepot.request" and "/x" in r.getMessage()]
    assert records
    line = TextFormatter().format(records[-1])
    assert "\n" not in line and "\r" not in line and "\x00" not in line
    assert "\\x0d\\x0a2026-12-01" in line and "\\x00" in line
    for bad in ("isos\r\nx", "isos\nx", "nul\x00", "nel\u0085x", "sep\u2028x", "del\x7f"):
        r = api.c.post(
            "/osImages/remoteFileServers",
            json={"protocol": "HTTP", "address": "127.0.0.1", "port": 80, "displayName": bad},
        )
        assert r.status_code == 400, (bad, r.text)
        assert "control" in r.json()["messages"][0]["explanation"]
        r = api.c.post(
            "/files/osImages",
            params={"jobId": api.init("SCRIPT"), "os": "rhel", "description": bad},
            files={"uploadedfile": ("ok.sh", b"#!/bin/sh\n", "application/octet-stream")},
        )
        assert r.status_code == 400, (bad, r.text)


# -- #11 one user reserving all free space --------------------------------------------------


@pytest.mark.local_store
def test_one_user_cannot_reserve_all_free_space(
    api: Api, make_api: Any, ctx: Context, settings: Settings
) -> None:
    free = ctx.blobs.free_bytes()
    assert free is not None
    # Three quarters of the free space: more than one user's half, and far enough below
    # the whole that other writers on a shared disk (the rest of the suite) cannot turn
    # the refusal into the repository-full one between this read and the server's.
    r = api.c.post("/osImages?imageType=OS", json={"Action": "Init", "fileSize": free * 3 // 4})
    assert r.status_code == 409, r.text
    assert "one user may hold" in r.json()["messages"][0]["explanation"]
    # Up to half of it is fine; then this user's next reservation is refused …
    assert (
        api.c.post(
            "/osImages?imageType=OS", json={"Action": "Init", "fileSize": free // 3}
        ).status_code
        == 201
    )
    r = api.c.post("/osImages?imageType=OS", json={"Action": "Init", "fileSize": free // 3})
    assert r.status_code == 409, r.text
    # … while another user can still reserve space.
    other = make_api("lxc-os-admin")
    r = other.c.post("/osImages?imageType=OS", json={"Action": "Init", "fileSize": free // 4})
    assert r.status_code == 201, r.text
    # An explicit cap (OSDEPOT_MAX_RESERVED_BYTES_PER_USER) is honoured as given.
    capped = replace(ctx, settings=replace(settings, max_reserved_bytes_per_user=10_000))
    with TestClient(create_app(ctx=capped), base_url="https://testserver") as c:
        a = Api(c)
        a.login(ADMIN, ADMIN_PW)
        r = a.c.post("/osImages?imageType=SCRIPT", json={"Action": "Init", "fileSize": 10_001})
        assert r.status_code == 409


# -- a file of unannounced size growing past the limits --------------------------------------


def _growing() -> bytes:
    """A .tar.gz of a little over 3 MiB (random data does not compress)."""
    import random

    from tests.samples import tar_gz_bytes

    return tar_gz_bytes({"payload/data.bin": random.Random(3).randbytes(3 << 20)})


def _chunked_upload(api: Api, job: str, data: bytes) -> Any:
    """A multipart upload sent chunked: no Content-Length, so no size to check first."""
    boundary = "growth-boundary-0123456789"

    def body() -> Any:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="uploadedfile"; '
            'filename="grows.tar.gz"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        for i in range(0, len(data), 65536):
            yield data[i : i + 65536]
        yield f"\r\n--{boundary}--\r\n".encode()

    return api.c.post(
        f"/files/osImages?jobId={job}&imageType=SOFTWARE&os=rhel",
        content=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )


def _refused_for_room(api: Api, ctx: Context, r: Any, job: str, why: str) -> None:
    from tests.conftest import staging_files, stored_blobs

    assert r.status_code == 409, r.text
    msg = r.json()["messages"][0]
    assert msg["id"] == "FQXHMFC9004M" and why in msg["explanation"], msg
    task = api.c.get(f"/tasks/{job}").json()[0]
    assert task["status"] == "Stopped"
    assert not staging_files(ctx.settings) and not stored_blobs(ctx.settings)


@pytest.fixture
def small_growth_step(monkeypatch: Any) -> None:
    """Rooms re-checked every 64 KiB, so that a refusal comes after several checks."""
    from osdepot.services import space

    monkeypatch.setattr(space, "GROWTH_STEP", 65536)


def test_a_chunked_body_cannot_pass_the_repository_limit(
    api: Api, ctx: Context, small_growth_step: None
) -> None:
    data = _growing()
    ctx.settings = replace(ctx.settings, max_repository_bytes=2 << 20)
    job = api.init("SOFTWARE")
    _refused_for_room(api, ctx, _chunked_upload(api, job, data), job, "does not fit")
    assert api.c.get("/aicc").json()["storage"]["usedBytes"] == 0
    # Within the limit the same body is stored, checked every 64 KiB on the way.
    ctx.settings = replace(ctx.settings, max_repository_bytes=4 << 20)
    r = _chunked_upload(api, api.init("SOFTWARE"), data)
    assert r.status_code == 201, r.text
    assert api.c.get("/aicc").json()["storage"]["usedBytes"] == len(data)


@pytest.mark.local_store
def test_a_chunked_body_cannot_take_space_others_reserved(
    api: Api, make_api: Any, ctx: Context, monkeypatch: Any, small_growth_step: None
) -> None:
    data = _growing()
    free = 64 << 20
    blobs = ctx.settings.data_dir / "blobs"

    def disk_free() -> int:  # a 64 MiB disk: what the blob store holds is not free
        return free - sum(p.stat().st_size for p in blobs.rglob("*") if p.is_file())

    monkeypatch.setattr(ctx.blobs, "free_bytes", disk_free)
    ctx.settings = replace(ctx.settings, max_reserved_bytes_per_user=1 << 40)
    other = make_api("lxc-os-admin")
    other.init("SOFTWARE", fileSize=free - (2 << 20))  # all but 2 MiB reserved
    job = api.init("SOFTWARE")
    _refused_for_room(api, ctx, _chunked_upload(api, job, data), job, "reserved by imports")


def test_a_resumable_upload_without_a_length_cannot_pass_the_limit(
    api: Api, ctx: Context, small_growth_step: None
) -> None:
    data = _growing()
    ctx.settings = replace(ctx.settings, max_repository_bytes=2 << 20)
    job = api.init("SOFTWARE")
    draft = {"Upload-Draft-Interop-Version": "6"}
    r = api.c.post(
        f"/files/osImages/uploads?jobId={job}&imageType=SOFTWARE&os=rhel",
        headers={
            **draft,
            "Upload-Complete": "?0",
            "Content-Disposition": 'attachment; filename="grows.tar.gz"',
        },
    )
    assert r.status_code == 201, r.text
    url = r.headers["location"]
    head = {**draft, "Content-Type": "application/partial-upload", "Upload-Complete": "?0"}
    r = api.c.patch(url, content=data[: 1 << 20], headers={**head, "Upload-Offset": "0"})
    assert r.status_code == 204, r.text  # 1 MiB fits
    r = api.c.patch(url, content=data[1 << 20 :], headers={**head, "Upload-Offset": str(1 << 20)})
    _refused_for_room(api, ctx, r, job, "does not fit")


def _open_growing(api: Api, job: str) -> str:
    """A resumable upload (IETF draft) created without a length: its URL."""
    r = api.c.post(
        f"/files/osImages/uploads?jobId={job}&imageType=SOFTWARE&os=rhel",
        headers={
            "Upload-Draft-Interop-Version": "6",
            "Upload-Complete": "?0",
            "Content-Disposition": 'attachment; filename="grows.tar.gz"',
        },
    )
    assert r.status_code == 201, r.text
    return str(r.headers["location"])


def _append(api: Api, url: str, offset: int, data: bytes) -> Any:
    head = {
        "Upload-Draft-Interop-Version": "6",
        "Content-Type": "application/partial-upload",
        "Upload-Complete": "?0",
        "Upload-Offset": str(offset),
    }
    return api.c.patch(url, content=data, headers=head)


@pytest.mark.local_store
def test_uploads_of_unannounced_size_are_held_to_one_users_share(
    api: Api, make_api: Any, ctx: Context, monkeypatch: Any, small_growth_step: None
) -> None:
    """A user's share bounded only what their jobs declared: resumable uploads created
    without a length, left unfinished, could each grow until the disk was full and hold
    it until they expired (24 h). What they received counts now: here, on an 8 MiB
    disk, one user's 3 MiB left the same user's second upload 1 MiB, where it had 5,
    and another user half of the 5 MiB free."""
    data = _growing()
    free = 8 << 20
    data_dir = ctx.settings.data_dir

    def disk_free() -> int:  # an 8 MiB disk: what the blob store holds is not free
        return free - sum(p.stat().st_size for p in data_dir.rglob("*") if p.is_file()
                          and "blobs" in p.parts)  # fmt: skip

    monkeypatch.setattr(ctx.blobs, "free_bytes", disk_free)
    first = _open_growing(api, api.init("SOFTWARE"))
    assert _append(api, first, 0, data[: 3 << 20]).status_code == 204
    job = api.init("SOFTWARE")
    second = _open_growing(api, job)
    assert _append(api, second, 0, data[: 512 << 10]).status_code == 204  # within 1 MiB
    r = _append(api, second, 512 << 10, data[512 << 10 : 3 << 20])
    assert r.status_code == 409, r.text
    msg = r.json()["messages"][0]
    assert msg["id"] == "FQXHMFC9004M" and "one user may hold" in msg["explanation"], msg
    assert api.c.get(f"/tasks/{job}").json()[0]["status"] == "Stopped"
    # another user still has room: half of the 5 MiB left
    other = make_api("lxc-os-admin")
    mine = _open_growing(other, other.init("SOFTWARE"))
    r = _append(other, mine, 0, data[: 2 << 20])
    assert r.status_code == 204, r.text
    # and an explicit share is held to as given
    ctx.settings = replace(ctx.settings, max_reserved_bytes_per_user=1 << 20)
    r = _append(other, mine, 2 << 20, data[2 << 20 :])
    assert r.status_code == 409 and "one user may hold 1048576" in r.text, r.text


# -- one user making jobs in a loop ----------------------------------------------------------


def test_one_user_cannot_make_jobs_without_end(api: Api, make_api: Any, ctx: Context) -> None:
    ctx.settings = replace(ctx.settings, max_open_jobs_per_user=5, max_finished_jobs_per_user=3)
    made = [api.init("SCRIPT") for _ in range(5)]
    r = api.c.post("/osImages?imageType=SCRIPT", json={"Action": "Init"})
    assert r.status_code == 409, r.text
    msg = r.json()["messages"][0]
    assert msg["id"] == "FQXHMFC9063J" and "5 open jobs" in msg["explanation"]
    assert len(api.c.get("/tasks").json()) == 5  # the refused one left nothing behind
    # The limit is one user's: another user goes on.
    other = make_api("lxc-os-admin")
    other.init("SCRIPT")
    # Finished jobs are history: the newest three are kept when more jobs are made.
    for job in made:
        r = api.c.put("/tasks", json={"action": "cancel", "list": [job]})
        assert r.status_code == 200, r.text
    newest = api.init("SCRIPT")
    mine = {t["id"]: t["status"] for t in api.c.get("/tasks").json() if t["createdBy"] == ADMIN}
    assert mine == {made[3]: "Cancelled", made[4]: "Cancelled", newest: "Pending"}, mine


def test_a_remote_server_deleted_twice_at_once_is_deleted_once(
    api: Api, ctx: Context, monkeypatch: Any
) -> None:
    """Twelve concurrent DELETEs of one profile were answered 200 eight times: each
    found it before one of them removed it. The one whose deletion finds it gone
    (another request's) is a 404."""
    body = {"displayName": "once", "address": "127.0.0.1", "protocol": "FTP"}
    sid = api.c.post("/osImages/remoteFileServers", json=body).json()["serverId"]
    monkeypatch.setattr(ctx.catalog, "delete_server", lambda _sid: False)
    r = api.c.delete(f"/osImages/remoteFileServers/{sid}")
    assert r.status_code == 404, r.text
    assert r.json()["messages"][0]["id"] == "FQXHMFC9016J"


def test_remote_server_profiles_made_at_the_same_instant_stay_bounded(
    api: Api, ctx: Context, monkeypatch: Any
) -> None:
    """The profiles were counted before the transaction that adds one: requests made
    at the same instant each found room, and all were added (here two past a limit of
    two). Counted in the insert's transaction now: one of them is refused."""
    from osdepot.services import remote_servers

    monkeypatch.setattr(remote_servers, "MAX_SERVERS", 2)

    def server(name: str) -> int:
        body = {"displayName": name, "address": "127.0.0.1", "protocol": "FTP"}
        return int(api.c.post("/osImages/remoteFileServers", json=body).status_code)

    assert server("one") == 200
    side_by_side(monkeypatch, ctx.catalog, "add_server")  # both have counted, before
    assert sorted(at_once(lambda: server("two"), lambda: server("three"))) == [200, 409]
    assert len(api.c.get("/osImages/remoteFileServers").json()["serverList"]) == 2


def test_a_remote_server_change_keeps_what_a_change_at_the_same_time_made(
    api: Api, ctx: Context, monkeypatch: Any
) -> None:
    """Two changes of one SFTP profile at once: a new key pair, and a new description
    (keyComment). Each was made of the profile as read before either was written, and
    the later write put back the key pair the other had replaced: its public key, just
    answered to the administrator to install on the server, was not the one stored.
    A change is written only if the profile is still as it was read (else read again)."""
    body = {"displayName": "mirror", "address": "127.0.0.1", "protocol": "SFTP",
            "username": "u", "keyType": "ECDSA-521-secp521r1"}  # fmt: skip
    r = api.c.post("/osImages/remoteFileServers", json=body)
    assert r.status_code == 200, r.text
    sid, first = r.json()["serverId"], r.json()["serverPublicKey"]
    side_by_side(monkeypatch, ctx.catalog, "update_server")  # both have read it, before

    def change(**more: Any) -> Any:
        return api.c.put(f"/osImages/remoteFileServers/{sid}", json={**body, **more})

    rekeyed, described = at_once(
        lambda: change(keyType="RSA-2048"),
        lambda: change(keyType="", keyComment="the mirror"),
    )
    assert rekeyed.status_code == 200 and described.status_code == 200, rekeyed.text
    new_key = rekeyed.json()["serverPublicKey"]
    assert new_key.startswith("ssh-rsa ") and new_key != first
    (stored,) = api.c.get("/osImages/remoteFileServers").json()["serverList"]
    assert stored["serverPublicKey"] == new_key  # before: the first key pair, put back
    assert stored["keyComment"] == "the mirror"


def test_a_remote_server_changed_under_every_read_is_refused_clearly(
    api: Api, ctx: Context, monkeypatch: Any
) -> None:
    """A change that finds the profile changed by others every time it is about to
    write (five reads) gives up with a 409 that says so; nothing of it is stored."""
    body = {"displayName": "busy", "address": "127.0.0.1", "protocol": "FTP"}
    sid = api.c.post("/osImages/remoteFileServers", json=body).json()["serverId"]
    writes: list[object] = []

    def always_changed(*args: Any, **kwargs: Any) -> bool:
        writes.append(args)
        return False

    monkeypatch.setattr(ctx.catalog, "update_server", always_changed)
    r = api.c.put(f"/osImages/remoteFileServers/{sid}", json={**body, "port": 2121})
    assert r.status_code == 409, r.text
    assert r.json()["messages"][0]["id"] == "FQXHMFC9068J" and len(writes) == 5
    monkeypatch.undo()
    (stored,) = api.c.get("/osImages/remoteFileServers").json()["serverList"]
    assert stored["port"] == 21


def test_a_remote_server_changed_while_it_is_deleted_is_a_404(
    api: Api, ctx: Context, monkeypatch: Any
) -> None:
    """A change whose profile was deleted between its read and its write: before, an
    assertion failed (500). Now 404, and nothing is stored."""
    body = {"displayName": "gone", "address": "127.0.0.1", "protocol": "FTP"}
    sid = api.c.post("/osImages/remoteFileServers", json=body).json()["serverId"]
    update = ctx.catalog.update_server

    def deleted_first(*args: Any, **kwargs: Any) -> bool:
        assert ctx.catalog.delete_server(int(sid))
        return bool(update(*args, **kwargs))

    monkeypatch.setattr(ctx.catalog, "update_server", deleted_first)
    r = api.c.put(f"/osImages/remoteFileServers/{sid}", json={**body, "port": 2121})
    assert r.status_code == 404, r.text
    assert r.json()["messages"][0]["id"] == "FQXHMFC9016J"
    assert api.c.get("/osImages/remoteFileServers").json()["serverList"] == []


def test_remote_server_profiles_are_bounded(api: Api, monkeypatch: Any) -> None:
    from osdepot.services import remote_servers

    monkeypatch.setattr(remote_servers, "MAX_SERVERS", 2)

    def server(name: str, **more: Any) -> Any:
        body = {"displayName": name, "address": "127.0.0.1", "protocol": "FTP", **more}
        return api.c.post("/osImages/remoteFileServers", json=body)

    first = server("one").json()["serverId"]
    assert server("two").status_code == 200
    r = server("three")
    assert r.status_code == 409, r.text
    assert r.json()["messages"][0]["id"] == "FQXHMFC9065J"
    assert server("one, moved", serverId=first, port=2121).status_code == 200  # a change
    assert api.c.delete(f"/osImages/remoteFileServers/{first}").status_code == 200
    assert server("three").status_code == 200
    assert len(api.c.get("/osImages/remoteFileServers").json()["serverList"]) == 2
