"""Limits that hold for requests at once: a new job or resumable upload is checked
against the free space, one user's share of it, one user's open jobs and open uploads
in the catalog transaction that adds it (services/admission.py), not only before.

Found by a probe against a real server: twelve `Init`s at once, each for a third of the
free space, were all answered 201 (four times the free space reserved by one user
whose share is half of it); thirty at once with `OSDEPOT_MAX_OPEN_JOBS_PER_USER=5` made
ten open jobs. Each test here makes the window certain: every request reads what its
early check reads before any of them goes on (a barrier on that catalog read), which is
what happens by chance when requests arrive together."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest

from osdepot.services.context import Context
from tests.api.test_resumable import ISO, create
from tests.conftest import Api
from tests.media import medium_bytes


def at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda call: call(), calls))


def read_first(monkeypatch: pytest.MonkeyPatch, ctx: Context, name: str, n: int) -> Any:
    """Each of ``n`` requests waits after its read of ``ctx.catalog.<name>`` until all
    ``n`` have read it (a read more, or fewer, breaks the barrier: the request fails).
    Returns the catalog's own read, for the test's checks."""
    barrier = threading.Barrier(n, timeout=15)
    real = getattr(ctx.catalog, name)

    def read(*args: Any) -> Any:
        out = real(*args)
        barrier.wait()
        return out

    monkeypatch.setattr(ctx.catalog, name, read)
    return real


def statuses(answers: list[Any]) -> Counter[int]:
    return Counter(r.status_code for r in answers)


def test_open_jobs_per_user_hold_for_inits_at_once(
    api: Api, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx.settings = replace(ctx.settings, max_open_jobs_per_user=3)
    read_first(monkeypatch, ctx, "job_counts_of", 12)
    init = lambda: api.c.post("/osImages?imageType=SCRIPT", json={"Action": "Init"})  # noqa: E731
    answers = at_once([init] * 12)
    assert statuses(answers) == {201: 3, 409: 9}, [r.text for r in answers]
    refused = [r.json()["messages"][0] for r in answers if r.status_code == 409]
    assert {m["id"] for m in refused} == {"FQXHMFC9063J"}
    assert all("3 open jobs" in m["explanation"] for m in refused), refused
    assert len(api.c.get("/tasks").json()) == 3


@pytest.mark.local_store
def test_one_users_share_of_the_free_space_holds_for_inits_at_once(
    api: Api, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    free = ctx.blobs.free_bytes()
    assert free is not None
    user_holding = read_first(monkeypatch, ctx, "user_holding", 8)
    size = free // 3  # two are more than the user's half
    init = lambda: api.c.post("/osImages?imageType=OS", json={"Action": "Init", "fileSize": size})  # noqa: E731
    answers = at_once([init] * 8)
    assert statuses(answers) == {201: 1, 409: 7}, [r.text for r in answers]
    for r in answers:
        if r.status_code == 409:
            assert "one user may hold" in r.json()["messages"][0]["explanation"], r.text
    assert user_holding("admin").held == size


@pytest.mark.local_store
def test_the_free_space_holds_for_users_reserving_at_once(
    make_api: Any, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    free = ctx.blobs.free_bytes()
    assert free is not None
    users = [make_api("lxc-os-admin") for _ in range(4)]
    usage = read_first(monkeypatch, ctx, "usage", 4)
    size = free * 2 // 5  # within each user's half; three of them are more than the disk

    def init(a: Api) -> Callable[[], Any]:
        return lambda: a.c.post("/osImages?imageType=OS", json={"Action": "Init", "fileSize": size})

    answers = at_once([init(a) for a in users])
    assert statuses(answers) == {201: 2, 409: 2}, [r.text for r in answers]
    for r in answers:
        if r.status_code == 409:
            assert "bytes free" in r.json()["messages"][0]["explanation"], r.text
    assert usage().bytes_reserved == 2 * size


def test_open_uploads_per_user_hold_for_creations_at_once(
    api: Api, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx.settings = replace(ctx.settings, max_open_uploads_per_user=2)
    jobs = [api.init("OS") for _ in range(6)]
    count_uploads = read_first(monkeypatch, ctx, "count_uploads", 6)

    def creation(job: str) -> Callable[[], Any]:
        return lambda: create(api, job, len(ISO))

    answers = at_once([creation(job) for job in jobs])
    assert statuses(answers) == {201: 2, 409: 4}, [r.text for r in answers]
    for r in answers:
        if r.status_code == 409:
            assert "resumable uploads open" in r.json()["messages"][0]["explanation"], r.text
    assert count_uploads("admin") == 2
    # the refused creations left their jobs Pending and no staging area behind
    pending = [t for t in api.c.get("/tasks").json() if t["status"] == "Pending"]
    assert len(pending) == 4
    stagings = {name for name, _size in ctx.blobs.staging_leftovers()}
    assert stagings == set(ctx.catalog.upload_stagings()) and len(stagings) == 2


def test_the_repositorys_limits_hold_for_imports_ending_at_once(
    api: Api, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two media of two releases with room for one OS image: both were committed when
    they ended together (each checked the count, then each added its image)."""
    ctx.settings = replace(ctx.settings, max_images=1)
    media = [("rhel-9.4.iso", ISO), ("rhel-9.3.iso", medium_bytes("rhel", version="9.3"))]
    jobs = [api.init("OS") for _ in media]
    # each upload reads usage() twice before its commit: the space for its body, and
    # the image count; both meet the other upload's there
    read_first(monkeypatch, ctx, "usage", 2)

    def upload(job: str, name: str, content: bytes) -> Callable[[], Any]:
        return lambda: api.upload(job, name, content, imageType="OS")

    answers = at_once([upload(job, *m) for job, m in zip(jobs, media, strict=True)])
    assert statuses(answers) == {201: 1, 409: 1}, [r.text for r in answers]
    (refused,) = [r.json() for r in answers if r.status_code == 409]
    assert "limited to 1 OS images" in json.dumps(refused)
    assert len(api.listing()["items"]) == 1
    tasks = {t["id"]: t["status"] for t in api.c.get("/tasks").json()}
    assert sorted(tasks.values()) == ["Complete", "Stopped"]
    # the refused file's bytes are not kept: one blob, the stored image's
    assert len(list(ctx.blobs.keys())) == 1


def test_the_repositorys_byte_limit_holds_for_imports_ending_at_once(
    api: Api, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two files of 1,000 bytes under a limit of 1,500: each fitted when its body was
    checked, before either was stored; only one may be committed."""
    ctx.settings = replace(ctx.settings, max_repository_bytes=1500)
    jobs = [api.init("SCRIPT") for _ in range(2)]
    read_first(monkeypatch, ctx, "usage", 2)  # the check of each body's length

    def upload(job: str, name: str) -> Callable[[], Any]:
        return lambda: api.upload(job, name, b"#!/bin/sh\n" + b"#" * 990, os="rhel")

    answers = at_once([upload(job, f"{job}.sh") for job in jobs])
    assert statuses(answers) == {201: 1, 409: 1}, [r.text for r in answers]
    (refused,) = [r.json() for r in answers if r.status_code == 409]
    assert "limited to 1500 bytes" in json.dumps(refused)
    assert len(api.listing()["installScriptFiles"]) == 1 and len(list(ctx.blobs.keys())) == 1
