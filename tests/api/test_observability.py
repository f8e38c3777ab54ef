"""/metrics, /healthz, the OpenAPI document, request and job log lines."""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from openapi_spec_validator import validate
from starlette.routing import Route
from starlette.testclient import TestClient

from osdepot.errors import StoreUnavailable
from osdepot.logsetup import JsonFormatter
from osdepot.services.context import Context
from osdepot.web import observe
from osdepot.web.app import ROUTES, create_app
from osdepot.web.openapi import build
from tests.conftest import ADMIN, ADMIN_PW, Api
from tests.samples import VALID

AUTH = {"Authorization": "Basic " + base64.b64encode(f"{ADMIN}:{ADMIN_PW}".encode()).decode()}
WRONG = {"Authorization": "Basic " + base64.b64encode(f"{ADMIN}:nope".encode()).decode()}


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus text exposition (0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        key, value = line.rsplit(" ", 1)
        m = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?", key)
        assert m, line
        got = ",".join(sorted(m.group(2).split(","))) if m.group(2) else ""
        if m.group(1) == name and got == want:
            return float(value)
    return 0.0


def test_metrics_count_imports_failures_and_bytes(api: Api) -> None:
    before = api.c.get("/metrics").text
    content = VALID["UNATTEND"][2]
    api.import_file("UNATTEND", "ks.ks", content, os="rhel")
    job = api.init("SCRIPT")
    r = api.upload(
        job,
        "s.sh",
        b"#!/bin/sh\necho hi\n",
        {"checksumType": "SHA256", "checksumValue": "0" * 64},
        os="rhel",
    )
    assert r.status_code == 409
    r = api.c.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    after = r.text

    def delta(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert delta("osdepot_upload_bytes_received_total", source="upload") == len(content) + 18
    assert delta("osdepot_imports_total", image_type="UNATTEND", result="complete") == 1
    assert delta("osdepot_imports_total", image_type="SCRIPT", result="stopped") == 1
    assert delta("osdepot_import_failures_total", message_id="FQXHMFC0001M") == 1
    assert delta("osdepot_http_errors_total", message_id="FQXHMFC0001M", status="409") == 1
    assert (
        delta("osdepot_import_duration_seconds_count", image_type="UNATTEND", result="complete")
        == 1
    )
    assert delta("osdepot_http_requests_total", method="POST", status="201") >= 3
    assert sample(after, "osdepot_uploads_in_flight", source="upload") == 0
    # What the repository holds is read from the catalog at each scrape.
    assert sample(after, "osdepot_jobs", state="Complete") == 1
    assert sample(after, "osdepot_jobs", state="Stopped") == 1
    assert sample(after, "osdepot_jobs", state="Running") == 0
    assert sample(after, "osdepot_files") == 1
    assert sample(after, "osdepot_repository_bytes") == len(content)
    assert "_created" not in after


def test_methods_of_any_name_make_no_new_series(api: Api) -> None:
    """A request method is any token the client sends; each became a label value of
    two metrics, series the process keeps for ever."""

    def others(text: str) -> float:
        return sample(text, "osdepot_http_requests_total", method="other", status="405")

    before = others(api.c.get("/metrics").text)
    for i in range(40):
        assert api.c.request(f"PROBE{i}", "/osImages").status_code == 405
    text = api.c.get("/metrics").text
    assert "PROBE" not in text
    assert others(text) - before == 40


def test_health_needs_no_login_and_tells_strangers_nothing_more(
    app_client: TestClient, ctx: Context
) -> None:
    r = app_client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}  # no version, counts or free space
    r = app_client.get("/healthz", headers=AUTH)
    body = r.json()
    assert body["status"] == "ok" and body["version"]
    assert body["checks"]["catalog"] == "ok" and body["checks"]["dataDir"] == "ok"
    assert body["checks"]["freeBytes"] > 0 and body["checks"]["blobStore"] == "ok"
    assert app_client.get("/healthz", headers=WRONG).status_code == 401


def test_metrics_need_a_login_unless_made_public(app_client: TestClient, ctx: Context) -> None:
    r = app_client.get("/metrics")
    assert r.status_code == 401 and "osdepot_" not in r.text
    r = app_client.get("/metrics", headers=AUTH)
    assert r.status_code == 200 and "osdepot_jobs" in r.text
    public = create_app(ctx=replace(ctx, settings=replace(ctx.settings, metrics_public=True)))
    with TestClient(public, base_url="https://testserver") as c:
        assert c.get("/metrics").status_code == 200


def test_health_reports_a_broken_catalog(
    app_client: TestClient, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> int:
        raise OSError("database is gone")

    monkeypatch.setattr(ctx.catalog, "generation", broken)
    r = app_client.get("/healthz")
    assert r.status_code == 503
    assert r.json() == {"status": "failed"}
    r = app_client.get("/healthz", headers=AUTH)
    assert r.status_code == 503
    assert r.json()["checks"]["catalog"] == "failed: OSError"


def test_health_reports_a_blob_store_that_fails_or_does_not_answer(
    app_client: TestClient, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An object store that was down left /healthz "ok" (it checked the catalog and
    the data folder only). It is checked too, one check at a time, its answer reused
    for a moment: a store that does not answer holds one thread, and each caller at
    most STORE_CHECK_TIMEOUT seconds."""
    monkeypatch.setattr(observe, "STORE_CHECK_REUSE", 0.0)

    def refused() -> None:
        raise StoreUnavailable("the object store http://127.0.0.1:9 does not answer")

    monkeypatch.setattr(ctx.blobs, "check", refused)
    r = app_client.get("/healthz")
    assert r.status_code == 503 and r.json() == {"status": "failed"}
    r = app_client.get("/healthz", headers=AUTH)
    assert r.status_code == 503
    assert r.json()["checks"]["blobStore"] == "failed: StoreUnavailable"
    assert r.json()["checks"]["catalog"] == "ok"
    # one that does not answer at all: twenty callers, one check running
    monkeypatch.setattr(observe, "STORE_CHECK_TIMEOUT", 0.3)
    release, calls = threading.Event(), []

    def hangs() -> None:
        calls.append(1)
        release.wait(10)

    monkeypatch.setattr(ctx.blobs, "check", hangs)
    try:
        with ThreadPoolExecutor(20) as pool:
            started = time.monotonic()
            answers = list(pool.map(lambda _: app_client.get("/healthz", headers=AUTH), range(20)))
            took = time.monotonic() - started
        assert {a.status_code for a in answers} == {503}
        assert {a.json()["checks"]["blobStore"] for a in answers} == {
            "failed: no answer within 0.3 s"
        }
        assert len(calls) == 1 and took < 8, (len(calls), took)
    finally:
        release.set()
    monkeypatch.setattr(ctx.blobs, "check", lambda: None)  # back
    deadline = time.monotonic() + 5
    while (r := app_client.get("/healthz")).status_code != 200:
        assert time.monotonic() < deadline, r.text
        time.sleep(0.05)
    assert r.json() == {"status": "ok"}


def test_openapi_document_is_valid_and_complete(app_client: TestClient) -> None:
    r = app_client.get("/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    validate(doc)
    assert doc == json.loads(json.dumps(build()))
    documented = {
        (re.sub(r"\{(\w+)(:path)?\}", r"{\1}", path), method.upper())
        for path, item in doc["paths"].items()
        for method in item
        if method != "parameters"
    }
    served = set()
    for route in ROUTES:
        assert isinstance(route, Route)
        if route.path in ("/", "/ui/{name}") or (route.path.endswith("/") and route.path != "/"):
            continue  # the web UI's pages, and the trailing-slash twins of collections
        path = re.sub(r"\{(\w+)(:path)?\}", r"{\1}", route.path)
        path = path.replace("{sid}", "{id}")
        for method in route.methods or ():
            if method != "HEAD":
                served.add((path, method))
    assert served == documented
    # Every error answer is documented with the failed envelope.
    for item in doc["paths"].values():
        for method, op in item.items():
            if method == "parameters":
                continue
            for code, resp in op["responses"].items():
                if code.startswith(("4", "5")) and code != "503":
                    ref = resp["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/Failed")


def test_only_clients_that_send_basic_credentials_get_a_basic_challenge(
    app_client: TestClient,
) -> None:
    # A browser (or the web UI) that sent none is never asked for Basic credentials, so
    # it never remembers any that a cross-site page could make it send.
    for headers in ({}, {"X-Requested-With": "XMLHttpRequest"}):
        r = app_client.get("/osImages", headers=headers)
        assert r.status_code == 401
        assert "basic" not in r.headers["www-authenticate"].lower()
        assert r.json()["messages"][0]["id"].startswith("FQXHMSE")
    r = app_client.get("/osImages", headers={"Authorization": "Basic Zm9vOmJhcg=="})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'Basic realm="osdepot"'


def test_the_ui_is_served_with_a_strict_policy(app_client: TestClient) -> None:
    r = app_client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert '<script type="module" src="/ui/app.js">' in r.text
    for name, ctype in (("app.js", "text/javascript"), ("style.css", "text/css")):
        r = app_client.get(f"/ui/{name}")
        assert r.status_code == 200 and r.headers["content-type"].startswith(ctype)
    # Nothing from elsewhere: no absolute URLs to other hosts in the page or its assets.
    for name in ("", "ui/app.js", "ui/style.css"):
        assert not re.search(r"https?://", app_client.get("/" + name).text)
    for bad in ("../app.py", "..%2Fapp.py", "app.py", ".hidden.js", "nope.js"):
        r = app_client.get(f"/ui/{bad}")
        assert r.status_code == 404, bad
        assert r.json()["result"] == "failed"


def test_the_ui_offers_what_the_server_defines(api: Api, app_client: TestClient) -> None:
    # One source for each fact: the page's groups, types, families and checksums are
    # made from the server's definitions, and the listing has exactly those groups.
    from osdepot.domain.images import FAMILIES, LISTING_GROUPS, ImageType
    from osdepot.services.import_params import ALGORITHM_LABELS, CHECKSUM_ALGORITHMS

    r = app_client.get("/ui/vocabulary.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    consts = dict(re.findall(r"^export const (\w+) = (.*);$", r.text, re.M))
    vocab = {k: json.loads(v) for k, v in consts.items()}
    assert [k for k, _ in vocab["GROUPS"]] == [g.key for g in LISTING_GROUPS]
    assert {k for k, _ in vocab["TYPES"]} == {t.value for t in ImageType}
    assert [k for k, _ in vocab["OSES"]][1:] == list(FAMILIES)
    assert set(ALGORITHM_LABELS) == set(CHECKSUM_ALGORITHMS)
    assert [k for k, _ in vocab["CHECKSUMS"]][1:] == list(ALGORITHM_LABELS)
    assert 'from "./vocabulary.js"' in app_client.get("/ui/app.js").text
    listing = api.c.get("/osImages").json()
    groups = {k for k, v in listing.items() if isinstance(v, list)} - {"items", "messages"}
    assert groups - {"supportedImages"} == {g.key for g in LISTING_GROUPS}


def test_request_and_job_log_lines(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    api.import_file("UNATTEND", "ks.ks", VALID["UNATTEND"][2], os="rhel")
    requests_ = [r for r in caplog.records if getattr(r, "event", "") == "request"]
    upload = [r for r in requests_ if r.__dict__["path"] == "/files/osImages"]
    assert len(upload) == 1
    line = upload[0].__dict__
    assert line["method"] == "POST" and line["status"] == 201 and line["user"] == "admin"
    assert line["ms"] > 0
    jobs = [
        (r.__dict__["job"], r.__dict__["status"])
        for r in caplog.records
        if r.name == "osdepot.jobs"
    ]
    job = jobs[0][0]
    assert [s for j, s in jobs if j == job] == ["Pending", "Running", "Complete"]
    size = len(VALID["UNATTEND"][2])
    valid = [r.getMessage() for r in caplog.records if " is a valid " in r.getMessage()]
    assert len(valid) == 1 and "ks.ks is a valid" in valid[0]
    assert f"({size} bytes; its checks read " in valid[0]  # was "read 1802 of 905 bytes"
    out = json.loads(JsonFormatter().format(upload[0]))
    assert out["event"] == "request" and out["status"] == 201 and out["logger"] == "osdepot.request"
    assert out["msg"].startswith("POST /files/osImages 201")
