"""Remote imports from real HTTP, HTTPS, FTP and SFTP servers on 127.0.0.1."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from osdepot.services.context import Context
from tests.conftest import Api, staging_files, stored_blobs
from tests.remote.conftest import register, remote_import, wait_done
from tests.remote.servers import PASSWORD, USER, FtpServer, HttpServer, SftpServer

ISO = "/isos/rhel-9.4-x86_64-dvd.iso"


def _sha(files: Path) -> str:
    return hashlib.sha256((files / ISO.lstrip("/")).read_bytes()).hexdigest()


def _imported(api: Api, job: str, files: Path) -> None:
    task = wait_done(api, job)
    assert task["status"] == "Complete", task
    (item,) = api.listing()["items"]
    assert item["id"] == "rhels9.4" and item["sha256"] == _sha(files)
    assert item["fileName"] == "rhel-9.4-x86_64-dvd.iso"


def test_http_with_basic_auth(api: Api, http: HttpServer, files: Path, ctx: Context) -> None:
    srv = register(api, protocol="HTTP", port=http.port, username=USER, password=PASSWORD)
    assert "password" not in srv and srv["hasPassword"] is True
    job, r = remote_import(api, srv["serverId"], ISO, os="rhel", imageName="x")
    assert r.status_code == 201 and r.json()["jobId"] == job, r.text
    _imported(api, job, files)
    assert staging_files(ctx.settings) == []


def test_https_needs_a_trusted_certificate(
    api: Api, https: tuple[HttpServer, str], files: Path
) -> None:
    server, pem = https
    srv = register(api, protocol="HTTPS", port=server.port, displayName="tls")
    job, r = remote_import(api, srv["serverId"], ISO)
    task = wait_done(api, job)
    assert task["status"] == "Stopped" and task["messageID"] == "FQXHMFC9006M"
    assert "certificate could not be verified" in task["messages"][0]["explanation"]
    # With the CA certificate in the profile, the same import works.
    r = api.c.put(
        f"/osImages/remoteFileServers/{srv['serverId']}",
        json={"protocol": "HTTPS", "address": "127.0.0.1", "port": server.port,
              "displayName": "tls", "caCertificate": pem},
    )  # fmt: skip
    assert r.status_code == 200 and r.json()["caCertificate"] == pem
    job, r = remote_import(api, srv["serverId"], ISO)
    _imported(api, job, files)


def test_https_explicitly_unverified(api: Api, https: tuple[HttpServer, str], files: Path) -> None:
    server, _pem = https
    srv = register(api, protocol="HTTPS", port=server.port, skipCertificateVerification=True)
    job, _r = remote_import(api, srv["serverId"], ISO)
    _imported(api, job, files)


def test_ftp_with_password(api: Api, ftp: FtpServer, files: Path) -> None:
    srv = register(api, protocol="FTP", port=ftp.port, username=USER, password=PASSWORD)
    job, _r = remote_import(api, srv["serverId"], ISO)
    _imported(api, job, files)


def test_ftp_anonymous_script(api: Api, ftp: FtpServer, files: Path) -> None:
    srv = register(api, protocol="FTP", port=ftp.port)
    job, r = remote_import(api, srv["serverId"], "/scripts/post.sh", "SCRIPT", os="rhel")
    assert r.status_code == 201
    assert wait_done(api, job)["status"] == "Complete"
    (entry,) = api.listing()["installScriptFiles"]
    assert entry["name"] == "post.sh"


def test_sftp_password_and_host_key_pinning(api: Api, sftp: SftpServer, files: Path) -> None:
    srv = register(api, protocol="SFTP", port=sftp.port, username=USER, password=PASSWORD)
    assert srv["hostKeyPinned"] is False
    job, _r = remote_import(api, srv["serverId"], ISO)
    _imported(api, job, files)
    got = api.c.get(f"/osImages/remoteFileServers/{srv['serverId']}").json()
    assert got["hostKeyPinned"] is True and got["hostKeyFingerprint"] == sftp.fingerprint
    # The server is reinstalled with a new host key: the import fails, nothing stored.
    api.c.request("DELETE", "/osImages/rhels9.4", content=b"{}")
    sftp.rekey()
    job, _r = remote_import(api, srv["serverId"], ISO)
    task = wait_done(api, job)
    assert task["status"] == "Stopped" and task["messageID"] == "FQXHMFC9026M"
    assert sftp.fingerprint in task["messages"][0]["explanation"]
    assert api.listing()["items"] == []
    # The administrator confirms the new key: the next import pins it and works.
    r = api.c.put(
        f"/osImages/remoteFileServers/{srv['serverId']}",
        json={"protocol": "SFTP", "address": "127.0.0.1", "port": sftp.port,
              "displayName": srv["displayName"], "resetHostKey": True},
    )  # fmt: skip
    assert r.json()["hostKeyPinned"] is False
    job, _r = remote_import(api, srv["serverId"], ISO)
    _imported(api, job, files)


@pytest.mark.parametrize("key_type", ["ECDSA-521-secp521r1", "RSA-2048"])
def test_sftp_with_a_generated_key(api: Api, sftp: SftpServer, files: Path, key_type: str) -> None:
    import asyncssh

    srv = register(
        api, protocol="SFTP", port=sftp.port, username=USER, keyType=key_type,
        keyPassphrase="n0t-Secret", keyComment="osdepot-test",
        hostKeyFingerprint=sftp.fingerprint,
    )  # fmt: skip
    pub = srv["serverPublicKey"]
    assert pub.endswith(" osdepot-test") and srv["keySignature"].startswith("SHA256:")
    # Before the administrator installs the key, the server refuses it.
    job, _r = remote_import(api, srv["serverId"], ISO)
    task = wait_done(api, job)
    assert task["status"] == "Stopped" and task["messageID"] == "FQXHMFC9025J"
    sftp.authorized.append(asyncssh.import_public_key(pub))
    job, _r = remote_import(api, srv["serverId"], ISO)
    _imported(api, job, files)


def test_secrets_never_leave_the_server(
    api: Api, sftp: SftpServer, ctx: Context, caplog: pytest.LogCaptureFixture
) -> None:
    srv = register(
        api, protocol="SFTP", port=sftp.port, username=USER, password=PASSWORD,
        keyType="RSA-2048", keyPassphrase="pass-phrase-xyz",
    )  # fmt: skip
    listing = api.c.get("/osImages/remoteFileServers").text
    one = api.c.get(f"/osImages/remoteFileServers/{srv['serverId']}").text
    for text in (listing, one, str(srv)):
        assert PASSWORD not in text and "pass-phrase-xyz" not in text
        assert "PRIVATE KEY" not in text
    raw = (ctx.settings.data_dir / "catalog.db").read_bytes()
    assert PASSWORD.encode() not in raw and b"pass-phrase-xyz" not in raw
    assert b"PRIVATE KEY" not in raw
    assert PASSWORD not in caplog.text and "pass-phrase-xyz" not in caplog.text


def test_remote_files_are_checked_like_uploads(
    api: Api, ctx: Context, ftp: FtpServer, files: Path
) -> None:
    (files / "isos" / "fake.iso").write_bytes(b"MZ" + b"\0" * 100_000)
    srv = register(api, protocol="FTP", port=ftp.port)
    job, _r = remote_import(api, srv["serverId"], "/isos/fake.iso")
    task = wait_done(api, job)
    assert task["status"] == "Stopped" and task["messageID"] == "FQXHMFC9021J"
    assert "is a Windows executable" in task["messages"][0]["text"]
    assert stored_blobs(ctx.settings) == [] and staging_files(ctx.settings) == []


def test_a_pull_cancelled_while_it_fails_still_cleans_up(
    api: Api, ctx: Context, http: HttpServer, files: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """A pull failing (here its content refused) and cancelled while its failure path
    ran: the cancel stopped the task there — staging left behind (on S3, an object
    completed at the staging's finish), the job's end not logged (16 of about 600
    cancelled pulls of a profile archive on the two-node cluster; one left an
    orphan). The failure path now runs to its end."""
    import asyncio
    import logging
    import threading

    from osdepot.ingest.receiver import Receiver

    caplog.set_level(logging.INFO)
    (files / "scripts" / "bad.sh").write_bytes(b"\x00\x01\x02\x03" * 4096)
    failing, settle = threading.Event(), Receiver.settle

    async def slow_settle(self: Receiver, writes_only: bool = False) -> None:
        failing.set()
        await asyncio.sleep(0.5)  # the cancel arrives meanwhile
        await settle(self, writes_only)

    monkeypatch.setattr(Receiver, "settle", slow_settle)
    srv = register(api, protocol="HTTP", port=http.port, username=USER, password=PASSWORD)
    job, r = remote_import(api, srv["serverId"], "/scripts/bad.sh", "SCRIPT", os="rhel")
    assert r.status_code == 201, r.text
    assert failing.wait(10)
    r = api.c.put("/tasks", json={"action": "cancel", "list": [int(job)]})
    assert r.status_code == 200, r.text
    wait_done(api, job)
    time.sleep(0.8)  # the failure path, done
    assert f"job {job}: import of bad.sh failed" in caplog.text  # before: no line
    assert staging_files(ctx.settings) == []  # before: the pull's staging file
    assert stored_blobs(ctx.settings) == []
