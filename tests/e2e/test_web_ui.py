"""The web UI in a real browser: Debian's chromium driven by Playwright against
`osdepot serve` over TLS. Screenshots of the main pages are kept in
test-artifacts/ui/ (at 1280×800 and in a narrow window)."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ADMIN, ADMIN_PW, Server, start_server, stop_server
from tests.remote.servers import PASSWORD, USER, HttpServer
from tests.samples import VALID
from tests.shared import ROOT, missing

CHROMIUM = os.environ.get("OSDEPOT_CHROMIUM", "/usr/bin/chromium")
SHOTS = ROOT / "test-artifacts" / "ui"
pytestmark = pytest.mark.e2e

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not shutil.which(CHROMIUM):
        missing(f"Debian's chromium ({CHROMIUM})")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Any]:
    ctx = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 800})
    ctx.set_default_timeout(15_000)
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(server.url + "/")
    yield pg
    ctx.close()
    assert errors == [], errors  # no script error on any page


def login(page: Any, user: str = ADMIN, password: str = ADMIN_PW) -> None:
    page.fill("#login-user", user)
    page.fill("#login-password", password)
    page.click("form.login button[type=submit]")
    page.wait_for_selector("#top:not([hidden])")


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def import_file(page: Any, path: Path, itype: str, os_name: str = "", **extra: str) -> None:
    page.click("nav >> text=Import")
    page.select_option("#imp-type", itype)
    if os_name:
        page.select_option("#imp-os", os_name)
    if "ctype" in extra:
        page.select_option("#imp-ctype", extra["ctype"])
        page.fill("#imp-cvalue", extra["cvalue"])
    page.set_input_files("#imp-file", str(path))
    page.click("#main form button[type=submit]")


def test_login_import_watch_and_logout(page: Any, server: Server, tmp_path: Path) -> None:
    page.wait_for_selector("form.login")
    shot(page, "01-login")
    page.fill("#login-user", ADMIN)
    page.fill("#login-password", "wrong password")
    page.click("form.login button[type=submit]")
    page.wait_for_selector("form.login .error")
    assert "FQXHMSE" in page.inner_text("form.login")
    assert page.is_hidden("#top")
    login(page)
    assert page.inner_text("#who") == ADMIN
    page.wait_for_selector("text=No OS images yet")
    shot(page, "02-repository-empty")

    name, _q, content = VALID["UNATTEND"]
    ks = tmp_path / name
    ks.write_bytes(content)
    import_file(page, ks, "UNATTEND", "rhel")
    page.wait_for_selector(".msg-ok >> text=Imported ks.ks")
    assert "Complete" in page.inner_text("#import-result")
    assert "100" in page.get_attribute("#main progress", "value")
    shot(page, "03-import-complete")

    page.click("nav >> text=Repository")
    page.wait_for_selector("td >> text=ks.ks")
    text = page.inner_text("main")
    assert hashlib.sha256(content).hexdigest() in text
    assert "Unattend files (1)" in text and ADMIN in text
    shot(page, "04-repository")

    page.click("nav >> text=Tasks")
    page.wait_for_selector("[data-job] >> text=Complete")
    shot(page, "05-tasks")

    page.set_viewport_size({"width": 420, "height": 800})
    page.click("nav >> text=Repository")
    page.wait_for_selector("td >> text=ks.ks")
    shot(page, "06-repository-narrow")
    page.set_viewport_size({"width": 1280, "height": 800})

    page.click("#logout")
    page.wait_for_selector("form.login >> text=You have logged out")
    assert page.is_hidden("#top")
    # The session is gone on the server too: a reload lands on the login page.
    page.goto(server.url + "/#/repository")
    page.wait_for_selector("form.login")


def test_keyboard_only_login_and_drop_a_file(page: Any, tmp_path: Path) -> None:
    page.wait_for_selector("#login-user:focus")  # the user field has the focus
    page.keyboard.type(ADMIN)
    page.keyboard.press("Tab")
    page.keyboard.type(ADMIN_PW)
    page.keyboard.press("Enter")
    page.wait_for_selector("#top:not([hidden])")
    page.click("nav >> text=Import")
    name, _q, content = VALID["SCRIPT"]
    # Drag and drop: a File in a DataTransfer, dropped on the drop zone.
    dt = page.evaluate_handle(
        """([name, text]) => { const dt = new DataTransfer();
            dt.items.add(new File([text], name, {type: "text/x-sh"})); return dt; }""",
        [name, content.decode()],
    )
    page.dispatch_event(".drop", "drop", {"dataTransfer": dt})
    page.wait_for_selector(f".drop >> text={name}")
    page.select_option("#imp-type", "SCRIPT")
    page.select_option("#imp-os", "rhel")
    page.focus("#imp-cvalue")
    page.keyboard.press("Enter")  # submits the form from the keyboard
    page.wait_for_selector("#notice > div")
    assert f"Imported {name}" in page.inner_text("#notice"), page.inner_text("#main")


def test_bad_checksum_shows_the_message(page: Any, tmp_path: Path) -> None:
    login(page)
    name, _q, content = VALID["SCRIPT"]
    path = tmp_path / name
    path.write_bytes(content)
    import_file(page, path, "SCRIPT", "rhel", ctype="SHA256", cvalue="ab" * 32)
    alert = page.wait_for_selector("#notice [role=alert]")
    text = alert.inner_text()
    assert "does not match" in text and "FQXHMFC0001M" in text
    assert hashlib.sha256(content).hexdigest() in text  # what the file really is
    assert "Stopped" in page.inner_text("#import-result")
    shot(page, "07-import-bad-checksum")
    page.click("nav >> text=Repository")
    page.wait_for_selector("text=No installation scripts.")


@pytest.fixture
def files(tmp_path: Path) -> Path:
    root = tmp_path / "files"
    (root / "isos").mkdir(parents=True)
    (root / "isos" / "big.tar.gz").write_bytes(os.urandom(4 * 1024 * 1024))
    return root


def test_remote_servers_and_cancel_a_running_import(
    page: Any, server: Server, http: HttpServer
) -> None:
    login(page)
    page.click("nav >> text=Remote file servers")
    page.wait_for_selector("text=No remote file servers")
    page.click("text=Add a server")
    page.fill("#srv-name", "isos")
    page.select_option("#srv-protocol", "HTTP")
    page.fill("#srv-address", "127.0.0.1")
    page.fill("#srv-port", str(http.port))
    page.fill("#srv-user", USER)
    page.fill("#srv-password", PASSWORD)
    page.click("#main form button[type=submit]")
    page.wait_for_selector("td >> text=isos")
    assert PASSWORD not in page.content()
    shot(page, "08-remote-servers")

    page.click("button:has-text('Edit')")
    page.fill("#srv-name", "iso-store")
    page.click("#main form button[type=submit]")
    page.wait_for_selector("td >> text=iso-store")

    # A transfer that stalls after 1 MiB stays Running until it is cancelled.
    http.behaviour.stall_after = 1024 * 1024
    page.click("button:has-text('Import from')")
    page.fill("#rimp-path", "/isos/big.tar.gz")
    page.select_option("#rimp-type", "SOFTWARE")
    page.select_option("#rimp-os", "rhel")
    page.click("#main form button[type=submit]")
    page.wait_for_selector("#notice >> text=follow it under Tasks")
    page.click("nav >> text=Tasks")
    row = page.wait_for_selector("[data-job] >> text=Running")
    assert row is not None
    shot(page, "09-tasks-running")
    page.click("button[aria-label^='Cancel job']")
    page.wait_for_selector("[data-job] >> text=Cancelled")
    assert "cancelled" in page.inner_text("#notice").lower()

    page.click("nav >> text=Remote file servers")
    page.click("button[aria-label='Delete iso-store']")
    page.wait_for_selector("dialog[open]")
    shot(page, "10-delete-confirmation")
    page.click("dialog button[value=ok]")
    page.wait_for_selector("text=No remote file servers")


def test_delete_asks_first(page: Any, server: Server, tmp_path: Path) -> None:
    login(page)
    name, _q, content = VALID["SCRIPT"]
    path = tmp_path / name
    path.write_bytes(content)
    import_file(page, path, "SCRIPT", "rhel")
    page.wait_for_selector(".msg-ok")
    page.click("nav >> text=Repository")
    page.click(f"button[aria-label^='Delete '][aria-label$='{name}']")
    page.wait_for_selector("dialog[open]")
    page.keyboard.press("Escape")  # closing the dialog keeps the file
    page.wait_for_selector("dialog:not([open])", state="attached")
    assert page.is_visible(f"td >> text={name}")
    page.click(f"button[aria-label^='Delete '][aria-label$='{name}']")
    page.click("dialog button[value=ok]")
    page.wait_for_selector(f"#notice >> text=Deleted file {name}")
    page.wait_for_selector("text=No installation scripts.")


def test_an_expired_session_returns_to_the_login_page(browser: Any, tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data", {"OSDEPOT_SESSION_TIMEOUT": "2"})
    try:
        ctx = browser.new_context(ignore_https_errors=True)
        pg = ctx.new_page()
        pg.goto(srv.url + "/")
        login(pg)
        pg.wait_for_timeout(3500)
        pg.click("nav >> text=Tasks")
        pg.wait_for_selector("form.login >> text=Your session has ended")
        ctx.close()
    finally:
        stop_server(srv)
