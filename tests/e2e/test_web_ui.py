"""The web UI in a real browser: Debian's chromium driven by Playwright against
`osdepot serve` over TLS. Screenshots of the main pages are kept in
test-artifacts/ui/ (at 1280×800 and in a narrow window)."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
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
    digest = hashlib.sha256(content).hexdigest()
    # The SHA-256 is shortened on screen (it never wraps mid-string), whole on hover.
    assert f"SHA256: {digest[:12]}…{digest[-4:]}" in text and digest not in text
    assert digest in (page.get_attribute(".hash-copy", "title") or "")
    assert "Unattend files (1)" in text and ADMIN in text
    # Empty groups share one line instead of a "(0)" section each.
    assert "(0)" not in text.replace("OS images (0)", "")
    assert "No boot files, device drivers," in page.inner_text(".empty-groups")
    # The storage total: what is stored, and the space left.
    assert "1 file(s), 0 OS image(s)" in page.inner_text(".storage")
    assert "free" in page.inner_text(".storage")
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
    page.wait_for_selector(".empty-groups >> text=installation scripts")


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
    page.wait_for_selector(".empty-groups >> text=installation scripts")


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


def test_a_refused_import_is_shown_once_and_not_followed(
    page: Any, server: Server, tmp_path: Path
) -> None:
    login(page)
    name, _q, content = VALID["SCRIPT"]
    path = tmp_path / name
    path.write_bytes(content)
    # A script needs an operating system: said before anything is sent.
    import_file(page, path, "SCRIPT")
    alert = page.wait_for_selector("#notice [role=alert]")
    assert "Choose the operating system" in alert.inner_text()
    assert page.is_hidden("#main .card progress") or page.inner_text(".progress-text") == ""
    # The server refuses a file whose name does not fit its type before the job takes
    # it: the refusal shows at once and once, in the page's words, the job is dropped
    # (no "Pending" job polled for ever), and the form keeps its values for a retry.
    bad = tmp_path / "notes.txt"
    bad.write_bytes(b"hello\n")
    import_file(page, bad, "UNATTEND", "rhel")
    page.wait_for_selector("#notice [role=alert] >> text=was refused")
    notice = page.inner_text("#notice")
    assert page.locator("#notice [role=alert]").count() == 1
    assert "FQXHMFC" in notice and "request" not in notice.lower()
    assert "Upload finished" not in page.inner_text("#main")
    assert page.input_value("#imp-os") == "rhel" and page.input_value("#imp-type") == "UNATTEND"
    jobs = server.session().get(server.url + "/tasks?compact=true", timeout=10).json()
    assert jobs == [], jobs
    shot(page, "11-import-refused")


def test_the_header_names_the_user_after_a_reload_and_the_filter(
    page: Any, server: Server, tmp_path: Path
) -> None:
    login(page)
    for key in ("SCRIPT", "UNATTEND"):
        name, _q, content = VALID[key]
        path = tmp_path / name
        path.write_bytes(content)
        import_file(page, path, key, "rhel")
        page.wait_for_selector(f".msg-ok >> text=Imported {name}")
    page.evaluate("sessionStorage.clear()")
    page.reload()
    page.wait_for_selector("#top:not([hidden])")
    assert page.inner_text("#who") == ADMIN
    page.click("nav >> text=Repository")
    script, unattend = VALID["SCRIPT"][0], VALID["UNATTEND"][0]
    page.wait_for_selector(f"td >> text={script}")
    page.fill("#repo-filter", unattend)
    page.wait_for_selector(f"tr:has-text('{script}')", state="hidden")
    assert page.is_visible(f"td >> text={unattend}")
    page.fill("#repo-filter", "")
    page.wait_for_selector(f"td >> text={script}")


def test_download_copy_link_and_browse(page: Any, server: Server, tmp_path: Path) -> None:
    import requests

    from tests.media import medium

    login(page)
    name, _q, content = VALID["SCRIPT"]
    path = tmp_path / name
    path.write_bytes(content)
    import_file(page, path, "SCRIPT", "rhel")
    page.wait_for_selector(".msg-ok")
    iso = medium(tmp_path / "rocky.iso", "rocky")
    import_file(page, iso, "OS")
    page.wait_for_selector(".msg-ok >> text=as OS image rocky9.4", timeout=60_000)
    page.click("nav >> text=Repository")
    page.wait_for_selector(f"td >> text={name}")
    href = page.get_attribute(f"a[aria-label='Download {name}']", "href")
    s = server.session()
    assert s.get(server.url + str(href), timeout=10).content == content
    # A copied link works without any login.
    page.click(f"button[aria-label='Copy a link to {name}']")
    notice = page.wait_for_selector("#notice >> text=/links/")
    url = notice.inner_text().split(": ")[-1].strip()
    anonymous = requests.Session()
    anonymous.trust_env = False
    ca = str(server.data_dir / "tls" / "cert.pem")
    assert anonymous.get(url, verify=ca, timeout=10).content == content
    page.click("button[aria-label='Copy a link to the installation tree of rocky9.4']")
    notice = page.wait_for_selector("#notice >> text=installation tree of rocky9.4")
    root = notice.inner_text().split(": ")[-1].strip()
    assert root.endswith("/")
    assert (
        anonymous.get(root + "images/pxeboot/vmlinuz", verify=ca, timeout=10).content == b"kernel"
    )
    # Browse: the tree's folders, in the browser, with the session.
    browse = page.get_attribute("a[aria-label='Browse the installation tree of rocky9.4']", "href")
    page.goto(server.url + str(browse))
    page.wait_for_selector("a >> text=images/")
    page.click("a >> text=images/")
    page.wait_for_selector("a >> text=pxeboot/")
    shot(page, "12-browse-tree")


def test_a_job_that_stops_moving_is_left_with_a_note(
    browser: Any, tmp_path: Path, http: HttpServer, files: Path
) -> None:
    # The page follows a job for a bounded time (OSDEPOT_UI_FOLLOW_STALL_SECONDS, 3 s
    # here): a remote import whose server stalls stays Running, and the page says so
    # and points to the Tasks page instead of polling for ever.
    srv = start_server(tmp_path / "data", {"OSDEPOT_UI_FOLLOW_STALL_SECONDS": "3"})
    try:
        ctx = browser.new_context(ignore_https_errors=True)
        pg = ctx.new_page()
        pg.goto(srv.url + "/")
        login(pg)
        s = srv.session()
        r = s.post(
            srv.url + "/osImages/remoteFileServers",
            json={
                "displayName": "isos", "protocol": "HTTP", "address": "127.0.0.1",
                "port": http.port, "username": USER, "password": PASSWORD,
            },
            timeout=10,
        )  # fmt: skip
        assert r.status_code == 200, r.text
        http.behaviour.stall_after = 1024 * 1024
        pg.click("nav >> text=Remote file servers")
        pg.click("button:has-text('Import from')")
        pg.fill("#rimp-path", "/isos/big.tar.gz")
        pg.select_option("#rimp-type", "SOFTWARE")
        pg.select_option("#rimp-os", "rhel")
        pg.click("#main form button[type=submit]")
        pg.wait_for_selector("#notice >> text=has shown no progress for 3 s", timeout=30_000)
        assert "Tasks page" in pg.inner_text("#notice")
        http.behaviour.stop.set()
        ctx.close()
    finally:
        stop_server(srv)


def test_a_customised_profile_is_exported_from_the_page(
    page: Any, server: Server, tmp_path: Path
) -> None:
    from urllib.parse import quote

    from tests.media import medium

    s = server.session()
    iso = medium(tmp_path / "rocky.iso", "rocky")
    job = s.post(server.url + "/osImages", json={"Action": "Init"}, timeout=10).json()["jobId"]
    with iso.open("rb") as f:
        r = s.post(
            f"{server.url}/files/osImages?jobId={job}",
            files={"uploadedfile": ("rocky.iso", f)},
            timeout=60,
        )
    assert r.status_code == 201, r.text
    base = quote("rocky9.4|rocky9.4-x86_64-install-Basic", safe="")
    body: dict[str, Any] = {"profile": {"name": "web", "customizationOptions": {}}}
    assert s.post(f"{server.url}/osImages/{base}", json=body, timeout=10).status_code == 201
    login(page)
    page.click("summary >> text=profile(s)")
    page.click("button[aria-label='Export profile web']")
    link = page.wait_for_selector("a >> text=Download the archive", timeout=30_000)
    shot(page, "13-profile-exported")
    data = s.get(server.url + str(link.get_attribute("href")), timeout=10).content
    assert data[:2] == b"\x1f\x8b"  # the gzip archive


def test_servers_are_shown_and_a_profile_is_deployed_from_the_page(
    page: Any, server: Server, bmc: Any, tmp_path: Path
) -> None:
    """The Deploy page: the emulated BMC's servers with their state, a profile
    deployed to one with its network settings, the job followed to Complete once the
    installer (played by the kickstart's own status calls) reports."""
    import subprocess
    import time

    import requests

    from osdepot.content import config_volume
    from tests.conftest import REDFISH_SYSTEMS
    from tests.e2e.test_deploy import UUIDS, media_of, prepared, section

    _client, profile = prepared(server, bmc, tmp_path)
    login(page)
    page.click("nav >> text=Deploy")
    page.wait_for_selector("text=Servers (2)")
    text = page.inner_text("main")
    assert "node-a" in text and "node-b" in text and UUIDS[0] in text and "Ready" in text
    shot(page, "30-deploy")
    page.check(f"input[value='{UUIDS[0]}']")
    page.select_option("#dep-profile", profile)
    page.fill("#dep-hostname", "ui1")
    page.fill("#dep-ipAddress", "10.20.0.31")
    page.fill("#dep-subnetMask", "255.255.255.0")
    page.fill("#dep-gateway", "10.20.0.254")
    page.select_option("#dep-target", "sandisk")
    page.click("form.card button[type=submit]")
    page.wait_for_selector(".deploy-job >> text=Running")
    # the installer's part, once the server was started
    deadline = time.monotonic() + 60
    while "/deployments/" not in (
        media_of(bmc, REDFISH_SYSTEMS[0]["uuid"])["Floppy"].get("Image") or ""
    ):
        assert time.monotonic() < deadline
        page.wait_for_timeout(300)
    page.wait_for_timeout(500)
    volume = media_of(bmc, REDFISH_SYSTEMS[0]["uuid"])["Floppy"]["Image"]
    ks = config_volume.read(requests.get(volume, verify=False, timeout=30).content)[
        "ks.cfg"
    ].decode()
    assert "--hostname=ui1" in ks and "--ip=10.20.0.31" in ks
    assert "osdepot_disk sandisk" in ks  # the form's storage target
    # the installer, on a server with a SAN disk (its sysfs played by a tree)
    from tests.content.test_unattend import SERVER_DISKS, fake_sys

    env = {**os.environ, "OSDEPOT_SYS": str(fake_sys(tmp_path / "server", SERVER_DISKS))}
    for header in ("%pre --erroronfail", "%post --nochroot"):
        script = section(ks, header).replace("/tmp/osdepot-disk.ks", "/dev/null")
        subprocess.run(["sh", "-ec", script], check=True, timeout=120, capture_output=True, env=env)
    page.wait_for_selector(".deploy-job >> text=Complete", timeout=30_000)
    assert "was deployed to node-a" in page.inner_text(".deploy-jobs")
    shot(page, "31-deploy-complete")
    # several servers with one set of network settings: refused on the page
    page.click("nav >> text=Repository")
    page.click("nav >> text=Deploy")
    page.wait_for_selector("text=Servers (2)")
    page.check(f"input[value='{UUIDS[0]}']")
    page.check(f"input[value='{UUIDS[1]}']")
    page.fill("#dep-ipAddress", "10.20.0.32")
    page.click("form.card button[type=submit]")
    page.wait_for_selector("#notice >> text=The network settings here are for one server")


def big_archive(path: Path, size: int) -> bytes:
    """A .tar.gz of ``size`` random bytes (SOFTWARE)."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        info = tarfile.TarInfo("agent/payload.bin")
        info.size = size
        tar.addfile(info, io.BytesIO(os.urandom(size)))
    path.write_bytes(buf.getvalue())
    return buf.getvalue()


def stored_sha256(server: Server, name: str) -> str:
    s = server.session()
    listing = s.get(server.url + "/osImages", timeout=10).json()
    found = [f for group in listing.values() if isinstance(group, list) for f in group]
    (f,) = [f for f in found if isinstance(f, dict) and f.get("name") == name]
    return str(f["sha256"])


def test_an_upload_rides_out_a_network_cut(browser: Any, server: Server, tmp_path: Path) -> None:
    """The page talks to the server through a network that drops at 6 MiB: the
    upload goes on by itself from the offset the server kept."""
    from tests.cutproxy import CutProxy

    data = big_archive(tmp_path / "agent.tar.gz", 16 << 20)
    port = int(server.url.rpartition(":")[2])
    proxy = CutProxy(("127.0.0.1", port), cut_after=6 << 20, rate=20 << 20)
    ctx = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 800})
    ctx.set_default_timeout(30_000)
    try:
        pg = ctx.new_page()
        pg.goto(proxy.url + "/")
        login(pg)
        import_file(pg, tmp_path / "agent.tar.gz", "SOFTWARE", "rhel")
        pg.wait_for_selector(".msg-ok >> text=Imported agent.tar.gz")
        shot(pg, "16-import-after-a-network-cut")
    finally:
        ctx.close()
        proxy.close()
    assert proxy.cuts == 1 and proxy.connections >= 2
    assert stored_sha256(server, "agent.tar.gz") == hashlib.sha256(data).hexdigest()


def test_a_reload_mid_upload_resumes_the_same_job(
    browser: Any, server: Server, tmp_path: Path
) -> None:
    """The page is reloaded while the file is sent; choosing the same file again
    continues the same upload (the same job) from what the server holds."""
    from tests.cutproxy import CutProxy

    # A slow link: the reload must come while the first page is still sending. At
    # 8 MiB/s and 24 MiB the upload once finished before a slow host's reload (the
    # socket buffers alone hold a few MiB more than the server has seen).
    data = big_archive(tmp_path / "media.tar.gz", 32 << 20)
    port = int(server.url.rpartition(":")[2])
    proxy = CutProxy(("127.0.0.1", port), cut_after=1 << 40, rate=3 << 20)
    ctx = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 800})
    ctx.set_default_timeout(30_000)
    try:
        pg = ctx.new_page()
        pg.goto(proxy.url + "/")
        login(pg)
        import_file(pg, tmp_path / "media.tar.gz", "SOFTWARE", "rhel")
        s = server.session()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            jobs = s.get(server.url + "/tasks", timeout=10).json()
            running = [j for j in jobs if j["status"] == "Running" and j["bytesReceived"] > 0]
            if running and running[0]["bytesReceived"] >= 4 << 20:
                break
            time.sleep(0.2)
        (job,) = running
        pg.reload()
        pg.wait_for_selector("#top:not([hidden])")
        # every notice shown from now on, however briefly (the rest of the file may
        # take a moment only, and "Imported" then replaces "Resuming" at once)
        pg.evaluate(
            """() => {
              const box = document.querySelector("#notice");
              window.notices = [];
              new MutationObserver(() => window.notices.push(box.textContent))
                .observe(box, { childList: true, subtree: true, characterData: true });
            }"""
        )
        import_file(pg, tmp_path / "media.tar.gz", "SOFTWARE", "rhel")
        pg.wait_for_selector(".msg-ok >> text=Imported media.tar.gz", timeout=60_000)
        resuming = f"Resuming the upload of media.tar.gz (job {job['id']})"
        assert any(resuming in n for n in pg.evaluate("window.notices")), pg.evaluate(
            "window.notices"
        )
    finally:
        ctx.close()
        proxy.close()
    jobs = server.session().get(server.url + "/tasks", timeout=10).json()
    assert [j["status"] for j in jobs] == ["Complete"]  # one job: the same one went on
    assert stored_sha256(server, "media.tar.gz") == hashlib.sha256(data).hexdigest()
