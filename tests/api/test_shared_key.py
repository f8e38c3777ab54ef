"""Nodes sharing a catalog share OSDEPOT_SECRET_KEY_FILE: a signed link made on one
node works on another, and a remote server's password sealed by one is opened by the
other. Without the shared key a node refuses the other's links (and says nothing of
why)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from osdepot.compose import open_context
from osdepot.config import Settings
from osdepot.services.auth import Auth
from osdepot.services.secrets import SecretBox
from osdepot.web.app import create_app
from tests.conftest import ADMIN, ADMIN_PW, Api
from tests.samples import VALID


def node(tmp_path: Path, name: str, key: Path | None) -> Settings:
    return Settings(
        data_dir=tmp_path / name,
        database_url=f"sqlite:///{tmp_path / 'shared.db'}",
        blob_url=f"file://{tmp_path / 'blobs'}",
        secret_key_file=key,
        admin_user=ADMIN,
        admin_password=ADMIN_PW,
        upload_buffer_bytes=64 * 1024,
        progress_interval=0.0,
    )


@pytest.fixture
def clients(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Api, Api]]:
    shared = request.param
    key = tmp_path / "cluster.key" if shared else None
    apis, contexts = [], []
    for name in ("a", "b"):
        ctx = open_context(node(tmp_path, name, key))
        Auth(ctx).bootstrap_admin()
        client = TestClient(create_app(ctx.settings, ctx), base_url="https://testserver")
        client.__enter__()
        api = Api(client)
        api.login(ADMIN, ADMIN_PW)
        apis.append(api)
        contexts.append((ctx, client))
    yield apis[0], apis[1]
    for ctx, client in contexts:
        client.__exit__(None, None, None)
        ctx.close()


@pytest.mark.parametrize("clients", [True], indirect=True)
def test_a_shared_key_makes_links_and_secrets_work_on_every_node(
    clients: tuple[Api, Api], tmp_path: Path
) -> None:
    a, b = clients
    name, query, content = VALID["SCRIPT"]
    fid = a.import_file("SCRIPT", name, content, **query)
    link = a.c.post(f"/files/osImages/{fid}/links", json={}).json()
    path = link["url"].split("testserver", 1)[1]
    assert b.c.get(path).content == content
    r = a.c.post(
        "/osImages/remoteFileServers",
        json={"displayName": "ftp", "address": "127.0.0.1", "port": 21, "protocol": "FTP",
              "username": "u", "password": "the-secret"},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    box = SecretBox(tmp_path / "b", tmp_path / "cluster.key")
    ctx_b = open_context(node(tmp_path, "b", tmp_path / "cluster.key"))
    try:
        (server,) = ctx_b.catalog.list_servers()
        assert box.open(server.password_enc) == "the-secret"
    finally:
        ctx_b.close()
    assert not (tmp_path / "a" / "secret.key").exists()


@pytest.mark.parametrize("clients", [False], indirect=True)
def test_without_a_shared_key_the_other_nodes_links_are_refused(
    clients: tuple[Api, Api],
) -> None:
    a, b = clients
    name, query, content = VALID["SCRIPT"]
    fid = a.import_file("SCRIPT", name, content, **query)
    link = a.c.post(f"/files/osImages/{fid}/links", json={}).json()
    path = link["url"].split("testserver", 1)[1]
    assert a.c.get(path).content == content
    assert b.c.get(path).status_code == 404
