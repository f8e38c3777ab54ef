"""pylxca 4.2.0's globalsettings, hostsettings and hostplatforms, unchanged, and the
Ruby client's (lenovo/xclarity_client) request shapes, replayed, against a real
`osdepot serve` over TLS whose host platforms come from OpenStack's Redfish emulator
(registered with the CLI, `osdepot hosts add`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pylxca
import requests

from tests.conftest import REDFISH_SYSTEMS
from tests.e2e.conftest import ADMIN, ADMIN_PW, Server
from tests.redfish import PASSWORD, USER, Emulator, power_of

UUIDS = sorted(s["uuid"].replace("-", "").upper() for s in REDFISH_SYSTEMS)


def cli(*args: str, stdin: str = "", home: Path) -> subprocess.CompletedProcess[str]:
    env = {"XDG_CONFIG_HOME": str(home), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "osdepot.cli.main", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_hosts_cli_then_pylxca_and_the_ruby_client(
    server: Server, bmc: Emulator, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    ca = tmp_path / "bmc-ca.pem"
    ca.write_text(bmc.ca)
    out = cli("login", server.url, "--user", ADMIN, "--password-stdin", "--insecure",
              stdin=ADMIN_PW + "\n", home=home)  # fmt: skip
    assert out.returncode == 0, out.stderr
    add = ["hosts", "add", bmc.url, "--user", USER, "--password-stdin", "--ca-cert", str(ca)]
    out = cli(*add, stdin="wrong-password\n", home=home)
    assert out.returncode != 0 and "refused the user name or password" in out.stderr
    out = cli(*add, stdin=PASSWORD + "\n", home=home)
    assert out.returncode == 0, out.stderr
    assert "node-a" in out.stdout and "node-b" in out.stdout and PASSWORD not in out.stdout
    listed = cli("hosts", "list", home=home)
    assert listed.returncode == 0 and all(u in listed.stdout for u in UUIDS), listed.stdout
    for spec in REDFISH_SYSTEMS:
        line = next(x for x in listed.stdout.splitlines() if spec["name"] in x)
        assert power_of(bmc, spec["uuid"]) in line.split() and bmc.url in line
    as_json = json.loads(cli("hosts", "list", "--json", home=home).stdout)
    assert sorted(h["uuid"] for h in as_json) == UUIDS

    con = pylxca.connect(server.url, ADMIN, ADMIN_PW, noverify="True")
    assert con is not None

    # hostplatforms: the systems, LXCA's keys
    rep = pylxca.osimages(con, subcmd="hostplatforms")
    assert rep["result"] == "success" and rep["isAuthorized"] is True
    assert sorted(i["uuid"] for i in rep["items"]) == UUIDS
    assert {i["deployStatus"]["name"] for i in rep["items"]} == {"Ready"}

    # globalsettings: pylxca's documented example, then read back without the password
    example: dict[str, Any] = {
        "activeDirectory": {"allDomains": [], "defaultDomain": "labs.lenovo.com"},
        "credentials": [
            {"name": "root", "password": "Test1234", "passwordChanged": True, "type": "LINUX"},
            {
                "type": "WINDOWS",
                "name": "Administrator",
                "password": None,
                "passwordChanged": False,
            },
        ],
        "ipAssignment": "dhcpv4",
        "isVLANMode": False,
        "licenseKeys": {
            r: {"dataCenterLicenseKey": "", "standardLicenseKey": ""}
            for r in ("win2012r1", "win2012r2", "win2016r1", "win2019r1")
        },
    }
    rep = pylxca.osimages(con, subcmd="globalsettings", osimages_dict=json.dumps(example))
    assert rep["result"] == "success", rep
    rep = pylxca.osimages(con, subcmd="globalsettings")
    creds = {c["type"]: c for c in rep["globalSetting"]["credentials"]}
    assert creds["LINUX"]["passwordSet"] is True and "Test1234" not in json.dumps(rep)

    # hostsettings: create, update, list, one, delete — pylxca's documented shapes
    def hosts(ip: str) -> dict[str, Any]:
        return {
            "hosts": [
                {
                    "storageSettings": {"targetDevice": "localdisk"},
                    "uuid": uuid,
                    "networkSettings": {
                        "dns2": "",
                        "dns1": "10.240.0.10",
                        "hostname": f"node{n}",
                        "vlanId": 0,
                        "selectedMAC": "AUTO",
                        "gateway": "10.243.0.1",
                        "subnetMask": "255.255.240.0",
                        "mtu": 1500,
                        "prefixLength": 64,
                        "ipAddress": f"{ip}.{n}",
                    },
                }
                for n, uuid in enumerate(UUIDS, 1)
            ]
        }

    rep = pylxca.osimages(con, "hostsettings", action="create",
                          osimages_dict=json.dumps(hosts("10.243.9")))  # fmt: skip
    assert rep["result"] == "Success", rep
    rep = pylxca.osimages(con, "hostsettings", action="update",
                          osimages_dict=json.dumps(hosts("10.243.10")))  # fmt: skip
    assert rep["result"] == "Success", rep
    rep = pylxca.osimages(con, "hostsettings")
    got = {h["uuid"]: h["networkSettings"]["ipAddress"] for h in rep["hosts"]}
    assert got == {UUIDS[0]: "10.243.10.1", UUIDS[1]: "10.243.10.2"}
    rep = pylxca.osimages(con, "hostsettings", action="delete",
                          osimages_dict=json.dumps({"uuid": UUIDS[0]}))  # fmt: skip
    assert rep["result"] == "Success", rep
    assert [h["uuid"] for h in pylxca.osimages(con, "hostsettings")["hosts"]] == [UUIDS[1]]

    # the Ruby client: set_globalsettings (deploySettings may come as a string, as its
    # schema declares it) and get_osimage_deployment_status
    s = requests.Session()
    s.auth = (ADMIN, ADMIN_PW)
    ruby = dict(example, deploySettings=json.dumps({"stateTransitionTimeout": 900}))
    r = s.put(server.url + "/osdeployment/globalSettings", json=ruby, timeout=30, verify=False)
    assert r.status_code == 200, r.text
    assert r.json()["deploySettings"]["stateTransitionTimeout"] == 900
    r = s.get(f"{server.url}/hostPlatforms/{UUIDS[1]}", timeout=30, verify=False)
    assert r.status_code == 200 and r.json()["deployStatus"]["id"] == "0"

    # the CLI removes the BMC, and its hosts go with it
    bid = as_json[0]["bmcId"]
    out = cli("hosts", "remove", bid, home=home)
    assert out.returncode == 0, out.stderr
    assert pylxca.osimages(con, subcmd="hostplatforms")["items"] == []
