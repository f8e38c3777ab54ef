"""The catalog under the polling load clients make, on PostgreSQL and on SQLite in the
same run: ``GET /tasks/{id}`` per second (8 clients, wrk) and ``GET /osImages`` with
10,000 entries (p50/p99; as is, gzip-encoded as clients that accept it get it, and
revalidated with its ETag as a browser does),
each against one ``osdepot serve --no-tls`` node; and the catalog statements one
import and one poll cost (counted in-process), for the capacity model of
docs/scale-out.md.

    .venv/bin/python -m benchmarks.catalog [--entries 10000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

from cluster.postgres import Postgres, pg_bin

from benchmarks.upload import (
    AUTH,
    fill_catalog,
    latency,
    log,
    osdepot_server,
    requests_per_second,
)


def statements(url: str) -> dict[str, int]:
    """Statements the catalog at ``url`` runs for one small import and for one poll of
    its job (on PostgreSQL: every read goes through SQLAlchemy, where it is counted)."""
    from sqlalchemy import event
    from starlette.testclient import TestClient

    from osdepot.compose import open_context
    from osdepot.config import Settings
    from osdepot.services.auth import Auth
    from osdepot.storage.catalog import SqlCatalog
    from osdepot.web.app import create_app

    root = Path(tempfile.mkdtemp(prefix="osdepot-stmts-"))
    ctx = open_context(
        Settings(
            data_dir=root,
            database_url=url,
            admin_password="bench-password-1",
            log_level="warning",
        )
    )
    Auth(ctx).bootstrap_admin()
    count = [0]

    def _count(*_a: Any) -> None:
        count[0] += 1

    for catalog in (ctx.catalog, ctx.loop_catalog):  # the loop's reads have their own
        engine: Any = getattr(catalog, "engine", None)
        if engine is not None:
            event.listen(engine, "before_cursor_execute", _count)
    # the polls' reads go to the driver itself (one statement each), past SQLAlchemy
    raw_rows = SqlCatalog._psycopg_rows

    def _count_raw(self: Any, *a: Any) -> Any:
        count[0] += 1
        return raw_rows(self, *a)

    patch_raw = mock.patch.object(SqlCatalog, "_psycopg_rows", _count_raw)
    patch_raw.start()

    out: dict[str, int] = {}
    with TestClient(create_app(ctx.settings, ctx), base_url="https://testserver") as c:
        c.auth = ("admin", "bench-password-1")
        c.get("/aicc")  # the password check is remembered: what follows is steady state
        count[0] = 0
        job = c.post("/osImages?imageType=SCRIPT", json={"Action": "Init"}).json()["jobId"]
        r = c.post(
            f"/files/osImages?jobId={job}&os=rhel",
            files={"uploadedfile": ("post.sh", b"#!/bin/sh\necho hi\n")},
        )
        assert r.status_code == 201, r.text
        out["import"] = count[0]
        count[0] = 0
        for _ in range(10):
            c.get(f"/tasks/{job}")
        out["poll"] = round(count[0] / 10)
    patch_raw.stop()
    ctx.close()
    shutil.rmtree(root, ignore_errors=True)
    return out


def measure(work: Path, name: str, url: str, entries: int, seconds: float) -> dict[str, Any]:
    data = work / name
    data.mkdir()
    env = {"OSDEPOT_DATABASE_URL": url} if url else {}
    with mock.patch.dict(os.environ, env):
        job = fill_catalog(data, entries)
    with osdepot_server(data, tls=False, extra_env=env) as (port, _proc):
        listing = latency(port, "/osImages", 200)
        tasks = latency(port, f"/tasks/{job}", 500)
        rps = requests_per_second(port, f"/tasks/{job}", seconds, 8)
        list_rps = requests_per_second(port, "/osImages", seconds, 8)
        # what pylxca (requests), browsers and Ruby's Net::HTTP send
        gz = {"Accept-Encoding": "gzip, deflate"}
        listing_gz = latency(port, "/osImages", 200, gz)
        list_gz_rps = requests_per_second(port, "/osImages", seconds, 8, gz)
        # what a browser sends once it holds the listing: answered 304 while unchanged
        again = {**gz, "If-None-Match": etag_of(port, gz)}
        listing_304 = latency(port, "/osImages", 200, again, status=304)
        list_304_rps = requests_per_second(port, "/osImages", seconds, 8, again)
    return {
        "tasks_rps": round(rps),
        "tasks_p50_ms": round(tasks["p50_ms"], 2),
        "tasks_p99_ms": round(tasks["p99_ms"], 2),
        "list_rps": round(list_rps),
        "list_p50_ms": round(listing["p50_ms"], 2),
        "list_p99_ms": round(listing["p99_ms"], 2),
        "list_gzip_rps": round(list_gz_rps),
        "list_gzip_p50_ms": round(listing_gz["p50_ms"], 2),
        "list_gzip_p99_ms": round(listing_gz["p99_ms"], 2),
        "list_304_rps": round(list_304_rps),
        "list_304_p50_ms": round(listing_304["p50_ms"], 2),
        "list_304_p99_ms": round(listing_304["p99_ms"], 2),
    }


def etag_of(port: int, headers: dict[str, str]) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("GET", "/osImages", headers={"Authorization": AUTH, **headers})
    r = conn.getresponse()
    r.read()
    conn.close()
    return str(r.getheader("ETag"))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--entries", type=int, default=10_000)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "catalog.json")
    a = p.parse_args()
    binaries = pg_bin()
    if binaries is None:
        log("PostgreSQL is missing (Debian's postgresql)")
        return 1
    work = Path(tempfile.mkdtemp(prefix="osdepot-catalog-bench-"))
    pg = Postgres(binaries)
    res: dict[str, Any] = {"entries": a.entries}
    try:
        for name, url in (("postgresql", pg.fresh_database()), ("sqlite", "")):
            res[name] = measure(work, name, url, a.entries, a.seconds)
            r = res[name]
            log(f"{name}: GET /tasks/{{id}} {r['tasks_rps']} req/s (p99 {r['tasks_p99_ms']} ms), "
                f"GET /osImages ({a.entries} entries) {r['list_rps']} req/s "
                f"(p50 {r['list_p50_ms']} ms, p99 {r['list_p99_ms']} ms); gzip-encoded "
                f"{r['list_gzip_rps']} req/s (p50 {r['list_gzip_p50_ms']} ms, "
                f"p99 {r['list_gzip_p99_ms']} ms); revalidated (If-None-Match, 304) "
                f"{r['list_304_rps']} req/s (p50 {r['list_304_p50_ms']} ms)")  # fmt: skip
        res["statements"] = statements(pg.fresh_database())
        log(f"catalog statements: {res['statements']['import']} per import, "
            f"{res['statements']['poll']} per poll")  # fmt: skip
    finally:
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=2) + "\n")
    log(f"results written to {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
