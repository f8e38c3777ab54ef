"""Requests that race each other over the same objects — imports, deletions, links,
downloads, installation trees, customised profiles, remote servers, task deletions —
from several clients at once: every answer is a success or a clear refusal, never a
500, and nothing is logged as an error. Bounded: a fixed number of operations per
client, from a seeded random choice (the seed is printed; ``OSDEPOT_MIX_SEED`` repeats
a run).

This load found a medium deleted before its tree index was kept logged as an error
with a traceback; the single-race reproductions of what it stands guard over are in
test_downloads.py, test_profiles.py, test_admission.py and test_deploy_runner.py."""

from __future__ import annotations

import os
import random
import threading
from collections import Counter
from urllib.parse import quote

import pytest

from osdepot.services.context import Context
from tests.conftest import Api
from tests.media import medium_bytes

CLIENTS = 6
OPERATIONS = 30  # per client
SEED = int(os.environ.get("OSDEPOT_MIX_SEED", str(random.randrange(1 << 30))))


def q(s: str) -> str:
    return quote(s, safe="")


def one(api: Api, rng: random.Random, media: list[bytes]) -> tuple[str, int]:
    listing = api.listing()
    images = listing["items"]
    scripts = [f["id"] for f in listing["installScriptFiles"]]
    choice = rng.randrange(11)
    if choice == 0:
        job = api.init("OS")
        r = api.upload(job, "r.iso", rng.choice(media), imageType="OS")
        return "import a medium", r.status_code
    if choice == 1 and images:
        return "delete an image", api.c.delete(
            f"/osImages/{q(rng.choice(images)['id'])}"
        ).status_code
    if choice == 2 and images:
        image = rng.choice(images)
        if image["profiles"]:
            base = rng.choice(image["profiles"])["id"]
            body = {"profile": {"name": f"c{rng.randrange(3)}", "customizationOptions": {}}}
            return "customise", api.c.post(f"/osImages/{q(base)}", json=body).status_code
    if choice == 3:
        job = api.init("SCRIPT")
        r = api.upload(job, f"s{rng.randrange(3)}.sh", b"#!/bin/sh\n", os="rhel")
        return "import a script", r.status_code
    if choice == 4 and scripts:
        return "delete a file", api.c.delete(f"/osImages/{q(rng.choice(scripts))}").status_code
    if choice == 5 and scripts:
        r = api.c.post(f"/files/osImages/{q(rng.choice(scripts))}/links", json={})
        return "make a link", r.status_code
    if choice == 6 and scripts:
        return "download", api.c.get(f"/files/osImages/{q(rng.choice(scripts))}").status_code
    if choice == 7 and images:
        r = api.c.get(f"/osImages/{q(rng.choice(images)['id'])}/tree/.treeinfo")
        return "tree file", r.status_code
    if choice == 8:
        server = {"displayName": f"s{rng.randrange(5)}", "address": "127.0.0.1", "protocol": "FTP"}
        return "add a server", api.c.post("/osImages/remoteFileServers", json=server).status_code
    if choice == 9:
        servers = api.c.get("/osImages/remoteFileServers").json()["serverList"]
        if servers:
            sid = rng.choice(servers)["serverId"]
            return "delete a server", api.c.delete(f"/osImages/remoteFileServers/{sid}").status_code
    if choice == 10:
        ended = [t["id"] for t in api.c.get("/tasks").json() if t["complete"]]
        if ended:
            ids = ",".join(rng.sample(ended, min(3, len(ended))))
            return "delete tasks", api.c.delete(f"/tasks/{ids}").status_code
    return "nothing to do", 0


def test_racing_requests_get_answers_never_a_500(
    api: Api, ctx: Context, caplog: pytest.LogCaptureFixture
) -> None:
    print(f"mixed load: {CLIENTS} clients × {OPERATIONS} operations, seed {SEED}")
    caplog.set_level("INFO")
    media = [medium_bytes("rhel", version="9.4"), medium_bytes("rhel", version="9.3")]
    outcomes: Counter[tuple[str, int]] = Counter()
    failures: list[BaseException] = []

    def client(n: int) -> None:
        rng = random.Random(SEED + n)
        try:
            for _ in range(OPERATIONS):
                outcomes[one(api, rng, media)] += 1
        except BaseException as exc:  # a 500 raises in the test client
            failures.append(exc)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert not failures, failures
    print(sorted(outcomes.items()))
    assert not [k for k in outcomes if k[1] >= 500], outcomes
    assert sum(n for (what, _s), n in outcomes.items() if what != "nothing to do") > 100
    errors = [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    assert not errors, "\n".join(r.getMessage() for r in errors)
