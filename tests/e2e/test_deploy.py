"""Deployments end to end: a real `osdepot serve` over TLS, OpenStack's Redfish
emulator as the BMC (its virtual media really download the images from the URLs
osdepot gives them), pylxca's ``hostplatforms`` and the Ruby client's array to deploy,
and the installer played by running the rendered kickstart's own %pre and %post shell
sections with curl."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pylxca
import pytest
import requests

from osdepot.content import config_volume
from tests.conftest import REDFISH_SYSTEMS
from tests.content.test_unattend import SERVER_DISKS, fake_sys
from tests.e2e.conftest import ADMIN, ADMIN_PW, Server, start_server, stop_server
from tests.e2e.test_deploy_clients import cli as run_cli
from tests.media import iso_file, medium
from tests.redfish import PASSWORD, USER, Emulator, emulator_binary, read, system

ROOT_PW = "Root-pw-9!"
UUIDS = [s["uuid"].replace("-", "").upper() for s in REDFISH_SYSTEMS]


class Client:
    """requests against the server, as the administrator (the server's own CA is not
    the system's: verify=False per request, as REQUESTS_CA_BUNDLE may be set)."""

    def __init__(self, server: Server) -> None:
        self.url = server.url
        self.s = requests.Session()
        self.s.auth = (ADMIN, ADMIN_PW)

    def call(self, method: str, path: str, **kw: Any) -> requests.Response:
        return self.s.request(method, self.url + path, verify=False, timeout=60, **kw)

    def ok(self, method: str, path: str, **kw: Any) -> Any:
        r = self.call(method, path, **kw)
        assert r.status_code < 300, (method, path, r.status_code, r.text)
        return r.json() if r.content else None


def redfish(bmc: Emulator, path: str) -> Any:
    return read(bmc, path)


#: the media prepared() imports, by kind: file name, profile filter, credential type
MEDIA: dict[str, tuple[str, Callable[[str], bool], str]] = {
    "rhel": ("rhel-9.4-x86_64-dvd.iso", lambda p: p.endswith("Basic"), "LINUX"),
    "esxi": ("VMware-VMvisor-Installer-8.0U2.iso", lambda p: p.startswith("esxi"), "ESXi"),
}


def prepared(
    server: Server,
    bmc: Emulator,
    tmp_path: Path,
    timeout: int = 3600,
    kind: str = "rhel",
    vlans: bool = False,
) -> tuple[Client, str]:
    """The repository with a medium of ``kind`` (tmp_path / its MEDIA name), global
    settings with a root password and the state timeout, the emulator's BMC
    registered: (client, a profile id of the medium)."""
    name, wanted, credential = MEDIA[kind]
    c = Client(server)
    iso = (
        medium(tmp_path / name, kind, version="9.4")
        if kind == "rhel"
        else medium(tmp_path / name, kind)
    )
    job = c.ok("POST", "/osImages?imageType=OS", json={"Action": "Init"})["jobId"]
    with iso.open("rb") as f:
        r = c.call(
            "POST",
            f"/files/osImages?jobId={job}&imageType=OS&os={kind}",
            files={"uploadedfile": (iso.name, f)},
        )
    assert r.status_code == 201, r.text
    profiles = [p["id"] for i in c.ok("GET", "/osImages")["items"] for p in i["profiles"]]
    profile = next(p for p in profiles if wanted(p))
    settings = {
        "activeDirectory": {"allDomains": [], "defaultDomain": ""},
        "credentials": [
            {"type": credential, "name": "root", "password": ROOT_PW, "passwordChanged": True}
        ],
        "ipAssignment": "staticv4",
        "isVLANMode": vlans,
        "licenseKeys": {},
        # the addresses here are made up: not pinged on whatever network the tests run
        # in (tests/api/test_deploy_targets.py checks the duplicate-IP check)
        "deploySettings": {"stateTransitionTimeout": timeout, "ipDuplicationCheckEnabled": False},
    }
    c.ok("PUT", "/osdeployment/globalSettings", json=settings)
    c.ok(
        "POST",
        "/bmcs",
        json={"url": bmc.url, "username": USER, "password": PASSWORD, "caCertificate": bmc.ca},
    )
    return c, profile


def network(n: int) -> dict[str, Any]:
    return {
        "hostname": f"web{n}",
        "ipAddress": f"10.20.0.{n}",
        "subnetMask": "255.255.255.0",
        "gateway": "10.20.0.254",
        "dns1": "10.20.0.253",
        "mtu": 9000,
        "vlanId": 0,
        "selectedMAC": "AUTO",
        "prefixLength": 64,
    }


def state_of(c: Client, uuid: str) -> int:
    return int(c.ok("GET", f"/hostPlatforms/{uuid}")["deployStatus"]["id"])


def wait_state(c: Client, uuid: str, wanted: set[int], seconds: float = 60) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = state_of(c, uuid)
        if state in wanted:
            return state
        time.sleep(0.3)
    raise AssertionError(f"{uuid} stayed in state {state_of(c, uuid)}, not {wanted}")


def wait_job(c: Client, job: str, seconds: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        (task,) = c.ok("GET", f"/tasks/{job}")
        if task["complete"]:
            return dict(task)
        time.sleep(0.3)
    raise AssertionError(f"job {job} did not end")


def media_of(bmc: Emulator, uuid_dashed: str) -> dict[str, dict[str, Any]]:
    base = f"/redfish/v1/Systems/{uuid_dashed}/VirtualMedia"
    return {m: redfish(bmc, f"{base}/{m}") for m in ("Cd", "Floppy")}


def section(script: str, header: str) -> str:
    """One %pre/%post section of a kickstart, without its header and %end."""
    start = script.index(header + "\n") + len(header) + 1
    return script[start : script.index("%end", start)]


def test_rhel_deployed_to_two_emulated_servers_at_once(
    server: Server, bmc: Emulator, tmp_path: Path
) -> None:
    """One PUT /hostPlatforms for both systems, as the Ruby client's deploy_osimage
    sends it (an array); each gets its job."""
    c, profile = prepared(server, bmc, tmp_path)
    entries = [
        {
            "uuid": uuid,
            "selectedImage": profile,
            "networkSettings": network(n),
            "storageSettings": {"targetDevice": "localdisk"},
        }
        for n, uuid in enumerate(UUIDS, 1)
    ]
    rep = c.ok("PUT", "/hostPlatforms", json=entries)
    assert [j["uuid"] for j in rep["jobs"]] == UUIDS and len(set(rep["jobIds"])) == 2
    jobs = {j["uuid"]: j["jobId"] for j in rep["jobs"]}

    # a second deployment to a host that is deploying, and the medium's deletion: refused
    again = c.call(
        "PUT",
        "/hostPlatforms",
        json=[
            {
                "uuid": UUIDS[0],
                "selectedImage": profile,
                "networkSettings": network(1),
                "storageSettings": {"targetDevice": "localdisk"},
            }
        ],
    )
    assert again.status_code == 409 and again.json()["messages"][0]["id"] == "FQXHMFC9055J"
    image = profile.split("|")[0]
    gone = c.call("DELETE", f"/osImages/{image}")
    assert gone.status_code == 409 and "being deployed" in gone.text

    for n, (uuid, spec) in enumerate(zip(UUIDS, REDFISH_SYSTEMS, strict=True), 1):
        assert wait_state(c, uuid, {11}) == 11
        media = media_of(bmc, spec["uuid"])
        assert media["Cd"]["Inserted"] is True and "/links/" in media["Cd"]["Image"]
        assert media["Floppy"]["Inserted"] is True
        volume_url = media["Floppy"]["Image"]
        assert re.search(r"/deployments/[A-Za-z0-9_-]{43}/config\.iso$", volume_url)
        boot = redfish(bmc, f"/redfish/v1/Systems/{spec['uuid']}")["Boot"]
        # (osdepot asks for Once; the emulator records every override as Continuous)
        assert boot["BootSourceOverrideTarget"] == "Cd"
        assert boot["BootSourceOverrideMode"] == "UEFI"
        # the BMC fetched the medium through the signed link: its bytes are the ISO's
        ranged = requests.get(
            media["Cd"]["Image"], headers={"Range": "bytes=32768-32773"}, verify=False, timeout=30
        )
        assert ranged.status_code == 206 and ranged.content == b"\x01CD001"

        # the configuration volume: labelled OEMDRV, ks.cfg at its root
        vol = requests.get(volume_url, verify=False, timeout=30)
        assert vol.status_code == 200 and vol.headers["cache-control"] == "no-store"
        path = tmp_path / f"config-{n}.iso"
        path.write_bytes(vol.content)
        label = subprocess.run(
            ["blkid", "-p", "-o", "export", str(path)], capture_output=True, text=True, check=False
        ).stdout
        assert "LABEL=OEMDRV" in label and "TYPE=iso9660" in label, label
        ks = config_volume.read(vol.content)["ks.cfg"].decode()
        assert f"--hostname=web{n}" in ks and f"--ip=10.20.0.{n}" in ks and "--mtu=9000" in ks
        assert "--netmask=255.255.255.0" in ks and "--gateway=10.20.0.254" in ks
        assert "rootpw --iscrypted $6$" in ks and ROOT_PW not in ks
        assert "@^server-product-environment" in ks
        token = volume_url.split("/deployments/")[1].split("/")[0]
        assert token in ks and f"{server.url}/hostPlatforms/{uuid}" in ks
        assert token not in json.dumps(c.ok("GET", "/hostPlatforms"))
        assert token not in json.dumps(c.ok("GET", f"/tasks/{jobs[uuid]}"))
        assert (
            requests.get(volume_url.replace("config.iso", "ks.cfg"), verify=False, timeout=30).text
            == ks
        )

        # the installer: the kickstart's own %pre and %post, curl against the server,
        # which it verifies with the certificate the file carries
        for header, states in (("%pre --erroronfail", (13, 14)), ("%post --nochroot", (15, 17))):
            script = section(ks, header)
            out = subprocess.run(
                ["sh", "-ec", script], capture_output=True, text=True, timeout=120, check=False
            )
            assert out.returncode == 0 and "error" not in out.stderr.lower(), out.stderr
            if states[-1] != 17:
                assert state_of(c, uuid) == states[-1]

        task = wait_job(c, jobs[uuid])
        assert task["status"] == "Complete" and task["percentage"] == 100, task
        assert task["typeId"] == "OSDeploy" and task["messages"][0]["id"] == "FQXHMFC9053I"
        assert state_of(c, uuid) == 17
        ejected = media_of(bmc, spec["uuid"])
        assert not ejected["Cd"]["Inserted"] and not ejected["Floppy"]["Inserted"]
        # the links and the token are gone with the deployment
        assert requests.get(media["Cd"]["Image"], verify=False, timeout=30).status_code == 404
        assert requests.get(volume_url, verify=False, timeout=30).status_code == 404
        late = requests.put(
            f"{server.url}/hostPlatforms/{uuid}",
            json={"deployStatus": {"id": 15}},
            headers={"Authorization": f"Bearer {token}"},
            verify=False,
            timeout=30,
        )
        assert late.status_code == 404

    # node-a was off: osdepot powered it on (the emulator applies a power action 1 to 11
    # seconds later); node-b was on: a forced restart leaves it on
    deadline = time.monotonic() + 20
    while redfish(bmc, f"/redfish/v1/Systems/{REDFISH_SYSTEMS[0]['uuid']}")["PowerState"] != "On":
        assert time.monotonic() < deadline, "node-a was not powered on"
        time.sleep(0.5)
    assert c.call("DELETE", f"/osImages/{image}").status_code == 200  # no longer in use


def test_deployments_that_fail_or_are_cancelled_clean_up(
    server: Server, bmc: Emulator, tmp_path: Path
) -> None:
    c, profile = prepared(server, bmc, tmp_path, timeout=10)

    con = pylxca.connect(server.url, ADMIN, ADMIN_PW, noverify="True")

    def deploy(uuid: str, n: int) -> str:
        """With pylxca's hostplatforms (it sends one entry, as an array)."""
        entry = {
            "uuid": uuid,
            "selectedImage": profile,
            "networkSettings": network(n),
            "storageSettings": {"targetDevice": "localdisk"},
        }
        rep = pylxca.osimages(con, subcmd="hostplatforms", osimages_dict=json.dumps(entry))
        assert rep["result"] == "success", rep
        return str(rep["jobId"])

    # no status from the installer within stateTransitionTimeout (10 s)
    job = deploy(UUIDS[0], 1)
    task = wait_job(c, job, 60)
    assert task["status"] == "Stopped" and task["messages"][0]["id"] == "FQXHMFC9054M"
    assert "No status from the host for 10 seconds" in task["messages"][0]["explanation"]
    assert state_of(c, UUIDS[0]) == 20
    media = media_of(bmc, REDFISH_SYSTEMS[0]["uuid"])
    assert not media["Cd"]["Inserted"] and not media["Floppy"]["Inserted"]

    # cancelled with PUT /tasks while it waits for the installer
    job = deploy(UUIDS[1], 2)
    wait_state(c, UUIDS[1], {11})
    c.ok("PUT", "/tasks", json={"action": "cancel", "list": [job]})
    task = wait_job(c, job, 30)
    assert task["status"] == "Cancelled", task
    assert wait_state(c, UUIDS[1], {21}, 30) == 21
    media = media_of(bmc, REDFISH_SYSTEMS[1]["uuid"])
    assert not media["Cd"]["Inserted"] and not media["Floppy"]["Inserted"]

    # bad entries: nothing starts
    bad = [
        ({"uuid": "F" * 32, "selectedImage": profile}, 404),
        ({"uuid": UUIDS[0], "selectedImage": "nosuch|profile"}, 404),
        (
            {
                "uuid": UUIDS[0],
                "selectedImage": profile,
                "networkSettings": {"ipAddress": "10.20.0.1"},
            },
            412,
        ),
        (
            {
                "uuid": UUIDS[0],
                "selectedImage": profile,
                "networkSettings": network(1),
                "storageSettings": {"targetDevice": "tapedrive"},
            },
            400,
        ),
        (
            {
                "uuid": UUIDS[0],
                "selectedImage": profile,
                "networkSettings": network(1),
                "unattendFileId": "x",
            },
            400,
        ),
    ]
    for entry, status in bad:
        r = c.call("PUT", "/hostPlatforms", json=[entry])
        assert r.status_code == status, (entry, r.text)
    assert state_of(c, UUIDS[0]) == 20


def test_a_bmc_that_cannot_fetch_the_media_or_went_away(bmc: Emulator, tmp_path: Path) -> None:
    # the URL the server gives BMCs (OSDEPOT_PUBLIC_URL) leads nowhere
    server = start_server(
        tmp_path / "data", extra_env={"OSDEPOT_PUBLIC_URL": "https://127.0.0.1:9/"}
    )
    try:
        c, profile = prepared(server, bmc, tmp_path)
        body = [
            {
                "uuid": UUIDS[0],
                "selectedImage": profile,
                "networkSettings": network(1),
                "storageSettings": {"targetDevice": "localdisk"},
            }
        ]
        job = str(c.ok("PUT", "/hostPlatforms", json=body)["jobId"])
        task = wait_job(c, job, 60)
        assert task["status"] == "Stopped"
        text = task["messages"][0]["explanation"]
        assert "could not fetch the image for its Cd slot" in text, text

        # a BMC that went away after it was registered
        binary = emulator_binary()
        assert binary is not None
        uuid = "57946b59-9e44-4fa7-8e91-f3527a1ef097"
        lone = Emulator(binary, [system(uuid, "node-d", "00:5c:52:31:3a:9f")])
        c.ok(
            "POST",
            "/bmcs",
            json={
                "url": lone.url,
                "username": USER,
                "password": PASSWORD,
                "caCertificate": lone.ca,
            },
        )
        lone.stop()
        body[0]["uuid"] = uuid.replace("-", "").upper()
        job = str(c.ok("PUT", "/hostPlatforms", json=body)["jobId"])
        task = wait_job(c, job, 60)
        assert task["status"] == "Stopped"
        assert "connection failed" in task["messages"][0]["explanation"].lower()
    finally:
        stop_server(server)


@pytest.mark.parametrize("devices", [{}])
def test_a_bmc_without_virtual_media_is_refused(
    server: Server, tmp_path: Path, devices: dict[str, Any]
) -> None:
    binary = emulator_binary()
    assert binary is not None
    uuid = "67946b59-9e44-4fa7-8e91-f3527a1ef098"
    bare = Emulator(
        binary,
        [system(uuid, "node-e", "00:5c:52:31:3a:a0")],
        extra={"SUSHY_EMULATOR_VMEDIA_DEVICES": devices},
    )
    try:
        c, profile = prepared(server, bare, tmp_path)
        host = uuid.replace("-", "").upper()
        assert c.ok("GET", f"/hostPlatforms/{host}")["virtualMediaCD"] is False
        r = c.call(
            "PUT",
            "/hostPlatforms",
            json=[{"uuid": host, "selectedImage": profile, "networkSettings": network(5)}],
        )
        assert r.status_code == 409 and "no virtual CD" in r.json()["messages"][0]["explanation"]
    finally:
        bare.stop()


def test_the_cli_deploys_and_follows_the_job(server: Server, bmc: Emulator, tmp_path: Path) -> None:
    c, profile = prepared(server, bmc, tmp_path)
    home = tmp_path / "home"
    env = {"XDG_CONFIG_HOME": str(home), "PATH": "/usr/bin:/bin"}

    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return run_cli(*args, stdin=stdin, home=home)

    out = cli(
        "login",
        server.url,
        "--user",
        ADMIN,
        "--password-stdin",
        "--insecure",
        stdin=ADMIN_PW + "\n",
    )
    assert out.returncode == 0, out.stderr
    two = cli("deploy", profile, "--host", UUIDS[0], "--host", UUIDS[1], "--ip", "10.0.0.1")
    assert two.returncode != 0 and "network options are for one server" in two.stderr
    bad = cli("deploy", profile, "--host", UUIDS[0], "--ip", "10.0.0.300", "--mask", "255.0.0.0")
    assert bad.returncode != 0 and "networkSettings.ipAddress" in bad.stderr, bad.stderr

    args = [
        "deploy",
        profile,
        "--host",
        UUIDS[0],
        "--hostname",
        "cli9",
        "--ip",
        "10.20.0.9",
        "--mask",
        "255.255.255.0",
        "--gateway",
        "10.20.0.254",
        "--dns",
        "10.20.0.253",
        "--target",
        "usbdisk",
        "--watch",
        "--interval",
        "0.5",
    ]
    watching = subprocess.Popen(
        [sys.executable, "-m", "osdepot.cli.main", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        wait_state(c, UUIDS[0], {11})
        volume = media_of(bmc, REDFISH_SYSTEMS[0]["uuid"])["Floppy"]["Image"]
        ks = config_volume.read(requests.get(volume, verify=False, timeout=30).content)["ks.cfg"]
        assert b"--hostname=cli9" in ks and b"--ip=10.20.0.9" in ks
        assert b"%include /tmp/osdepot-disk.ks" in ks  # --target usbdisk
        # the installer on a server with a USB disk (sysfs played by a tree)
        sys_tree = {"OSDEPOT_SYS": str(fake_sys(tmp_path / "server", SERVER_DISKS))}
        for header in ("%pre --erroronfail", "%post --nochroot"):
            script = section(ks.decode(), header).replace("/tmp/osdepot-disk.ks", "/dev/null")
            subprocess.run(
                ["sh", "-ec", script],
                check=True,
                timeout=120,
                capture_output=True,
                env={**os.environ, **sys_tree},
            )
        stdout, stderr = watching.communicate(timeout=60)
    finally:
        if watching.poll() is None:
            watching.kill()
    assert watching.returncode == 0, stderr
    assert "Deploying" in stdout and "Complete" in stdout


def test_esxi_deployed_through_a_view_of_its_iso(
    server: Server, bmc: Emulator, tmp_path: Path
) -> None:
    """ESXi reads its kickstart only from a ks= boot option: the BMC is given a view of
    the ISO whose boot.cfg files name KS.CFG on the configuration volume (every other
    byte the stored ISO's); the installer is played by running the kickstart's own
    %pre and %firstboot Python sections."""
    c, profile = prepared(server, bmc, tmp_path, kind="esxi", vlans=True)
    iso = tmp_path / MEDIA["esxi"][0]
    uuid, spec = UUIDS[1], REDFISH_SYSTEMS[1]
    entry = {
        "uuid": uuid,
        "selectedImage": profile,
        "networkSettings": {**network(7), "vlanId": 42},
        "storageSettings": {"targetDevice": "localdisk"},
        "licenseKey": "ab12c-3de4f-5gh6i-7jk8l-9mn0p",
    }
    # what ESXi's kickstart cannot say is refused first, naming the field
    bad = c.call("PUT", "/hostPlatforms", json=[{**entry, "licenseKey": "AB12C\nreboot"}])
    assert bad.status_code == 400 and "licenseKey" in bad.text, bad.text
    job = str(c.ok("PUT", "/hostPlatforms", json=[entry])["jobId"])
    assert wait_state(c, uuid, {11}) == 11

    media = media_of(bmc, spec["uuid"])
    view_url, volume_url = media["Cd"]["Image"], media["Floppy"]["Image"]
    assert re.search(r"/deployments/[A-Za-z0-9_-]{43}/install\.iso$", view_url), view_url
    # the view the BMC fetched: the ISO's bytes but for the two boot.cfg files
    view = requests.get(view_url, verify=False, timeout=60)
    assert view.status_code == 200 and len(view.content) == iso.stat().st_size
    original = iso.read_bytes()
    assert sum(a != b for a, b in zip(original, view.content, strict=True)) < 200
    for name in ("boot.cfg", "efi/boot/boot.cfg"):
        cfg = iso_file(view.content, rr_path="/" + name).decode()
        assert "kernelopt=runweasel cdromBoot ks=cdrom:/KS.CFG\n" in cfg, cfg
        assert iso_file(view.content, joliet_path="/" + name).decode() == cfg
    ranged = requests.get(
        view_url, headers={"Range": "bytes=32768-32773"}, verify=False, timeout=30
    )
    assert ranged.status_code == 206 and ranged.content == b"\x01CD001"

    # the configuration volume holds KS.CFG under its ISO 9660 name, as the option says
    volume = requests.get(volume_url, verify=False, timeout=30).content
    ks = iso_file(volume, iso_path="/KS.CFG;1").decode()
    assert "install --firstdisk --overwritevmfs" in ks and "rootpw --iscrypted $6$" in ks
    assert "--ip=10.20.0.7 --netmask=255.255.255.0 --gateway=10.20.0.254" in ks
    assert "--vlanid=42" in ks and "--hostname=web7" in ks
    assert "serialnum --esx=AB12C-3DE4F-5GH6I-7JK8L-9MN0P" in ks and ROOT_PW not in ks

    # the installer: %pre (13, 14), then the installed system's %firstboot (15, 17),
    # Python against the server, verified with the certificate the file carries
    for header, last in (
        ("%pre --interpreter=python", 14),
        ("%firstboot --interpreter=python", 17),
    ):
        start = ks.index(header + "\n") + len(header) + 1
        end = ks.find("\n%", start)
        script = ks[start : end if end >= 0 else len(ks)]
        out = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
        )
        assert out.returncode == 0 and not out.stderr, out.stderr
        if last != 17:
            assert state_of(c, uuid) == last
    task = wait_job(c, job)
    assert task["status"] == "Complete" and task["percentage"] == 100, task
    ejected = media_of(bmc, spec["uuid"])
    assert not ejected["Cd"]["Inserted"] and not ejected["Floppy"]["Inserted"]
    assert requests.get(view_url, verify=False, timeout=30).status_code == 404
