"""Exports written to registered remote file servers (HTTP PUT, FTP, SFTP on
127.0.0.1): the file arrives whole under its final name or not at all, and the
export job says where it went, or why it could not."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from osdepot.services.context import Context
from tests.conftest import Api, stored_blobs
from tests.media import medium_bytes
from tests.remote.conftest import register, wait_done
from tests.remote.servers import PASSWORD, USER, FtpServer, HttpServer, SftpServer
from tests.samples import VALID

IMAGE = "rhels9.4"
CUSTOM = f"{IMAGE}|{IMAGE}-x86_64-install-Custom_web"


@pytest.fixture
def profile(api: Api, files: Path) -> str:
    (files / "out").mkdir()
    api.import_file("OS", "rhel.iso", medium_bytes("rhel", version="9.4"))
    script = api.import_file("SCRIPT", "post.sh", VALID["SCRIPT"][2], os="rhel")
    body = {
        "profile": {
            "name": "web",
            "customizationOptions": {"customScriptOptions": {"customScriptIds": [script]}},
        }
    }
    r = api.c.post(
        f"/osImages/{quote(f'{IMAGE}|{IMAGE}-x86_64-install-Basic', safe='')}", json=body
    )
    assert r.status_code == 201, r.text
    return CUSTOM


def export_to(api: Api, server_id: str, path: str) -> dict[str, Any]:
    r = api.c.get(f"/osImages/{quote(CUSTOM, safe='')}?serverId={server_id}&path={quote(path)}")
    assert r.status_code == 200, r.text
    return wait_done(api, r.json()["jobId"])


def _written(api: Api, files: Path, task: dict[str, Any]) -> None:
    assert task["status"] == "Complete", task
    assert "also written to" in task["messages"][0]["explanation"]
    (stored,) = api.listing()["osProfileFiles"]
    sent = (files / "out" / "web.tar.gz").read_bytes()
    assert sent == api.c.get(f"/files/osImages/{stored['id']}").content
    assert [p.name for p in (files / "out").iterdir()] == ["web.tar.gz"]  # no part file


def test_export_to_sftp(api: Api, sftp: SftpServer, files: Path, profile: str) -> None:
    srv = register(api, protocol="SFTP", port=sftp.port, username=USER, password=PASSWORD)
    _written(api, files, export_to(api, srv["serverId"], "/out/web.tar.gz"))
    # again: the file there is replaced whole
    (files / "out" / "web.tar.gz").write_bytes(b"old")
    api.c.delete(f"/osImages/{api.listing()['osProfileFiles'][0]['id']}")
    _written(api, files, export_to(api, srv["serverId"], "/out/web.tar.gz"))


def test_export_to_ftp(api: Api, ftp: FtpServer, files: Path, profile: str) -> None:
    srv = register(api, protocol="FTP", port=ftp.port, username=USER, password=PASSWORD)
    _written(api, files, export_to(api, srv["serverId"], "/out/web.tar.gz"))


def test_export_to_http_put(api: Api, http: HttpServer, files: Path, profile: str) -> None:
    srv = register(api, protocol="HTTP", port=http.port, username=USER, password=PASSWORD)
    _written(api, files, export_to(api, srv["serverId"], "/out/web.tar.gz"))


def test_a_refused_write_fails_the_export_and_stores_nothing(
    api: Api, ftp: FtpServer, sftp: SftpServer, http: HttpServer, files: Path, profile: str,
    ctx: Context,
) -> None:  # fmt: skip
    before = stored_blobs(ctx.settings)
    cases = [
        # anonymous FTP may read, not write
        (register(api, protocol="FTP", port=ftp.port, displayName="anon"), "/out/web.tar.gz"),
        # a folder that does not exist
        (
            register(api, protocol="SFTP", port=sftp.port, username=USER, password=PASSWORD),
            "/nosuch/web.tar.gz",
        ),
        # wrong credentials
        (
            register(api, protocol="HTTP", port=http.port, username=USER, password="wrong"),
            "/out/web.tar.gz",
        ),
    ]
    for srv, path in cases:
        task = export_to(api, srv["serverId"], path)
        assert task["status"] == "Stopped", task
        assert task["messageID"] == "FQXHMFC9047J", task
        assert path in task["messages"][0]["text"]
    assert api.listing()["osProfileFiles"] == []
    assert stored_blobs(ctx.settings) == before
    assert list((files / "out").iterdir()) == []
