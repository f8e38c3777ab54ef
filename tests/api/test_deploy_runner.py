"""What the Redfish emulator cannot be made to do — refuse a boot override, refuse a
power action, lose the connection in the middle of a deployment — played by a BMC
reader that answers as told (the port's double; the emulator covers the rest in
tests/e2e/test_deploy.py). Each failure ends the job Stopped with a message naming
it, the host in state 20 with the same words, the media ejected."""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

from osdepot.domain.records import Bmc, Host
from osdepot.errors import BmcFailure, Missing
from osdepot.ports import BmcAccess
from osdepot.services.context import Context
from tests.conftest import Api
from tests.media import medium_bytes

UUID = "C" * 32


class ScriptedBmc:
    """A BmcReader whose every action succeeds, except the one told to fail."""

    def __init__(self, fail: str = "", kind: str = "") -> None:
        self.fail, self.kind = fail, kind
        self.calls: list[str] = []

    def _act(self, name: str) -> None:
        self.calls.append(name)
        if name == self.fail:
            raise BmcFailure(self.kind, f"{name} refused by the scripted BMC")

    def systems(self, access: BmcAccess, now: float) -> list[Host]:
        self._act("systems")
        return [Host(UUID, 0, "/redfish/v1/Systems/c", name="c", virtual_cd=True)]

    def insert_media(self, access: BmcAccess, system: str, urls: Sequence[str]) -> None:
        self._act("insert_media")

    def eject_media(self, access: BmcAccess, system: str) -> None:
        self._act("eject_media")

    def boot_once_from_cd(self, access: BmcAccess, system: str) -> None:
        self._act("boot_once_from_cd")

    def restart(self, access: BmcAccess, system: str) -> str:
        self._act("restart")
        return "On"


def _prepare(api: Api, ctx: Context) -> str:
    api.import_file("OS", "rhel-9.4-x86_64-dvd.iso", medium_bytes("rhel", version="9.4"), os="rhel")
    profile = next(p["id"] for i in api.listing()["items"] for p in i["profiles"])
    host = Host(UUID, 0, "/redfish/v1/Systems/c", name="c", virtual_cd=True, refreshed_at=1.0)
    ctx.catalog.add_bmc(
        Bmc(0, "https://bmc.example", "u", created_by="admin", created_at=1.0, refreshed_at=1.0),
        [host],
    )
    settings = {
        "activeDirectory": {"allDomains": [], "defaultDomain": ""},
        "credentials": [
            {"type": "LINUX", "name": "root", "password": "pw", "passwordChanged": True}
        ],
        "ipAssignment": "dhcpv4",
        "isVLANMode": False,
        "licenseKeys": {},
    }
    assert api.c.put("/osdeployment/globalSettings", json=settings).status_code == 200
    return str(profile)


def _run(api: Api, profile: str) -> dict[str, Any]:
    r = api.c.put("/hostPlatforms", json={"uuid": UUID, "selectedImage": profile})
    assert r.status_code == 200, r.text
    return _ended(api, r.json()["jobId"])


def _until_state(api: Api, state: str) -> None:
    deadline = time.monotonic() + 30
    while api.c.get(f"/hostPlatforms/{UUID}").json()["deployStatus"]["id"] != state:
        assert time.monotonic() < deadline, f"the host did not reach state {state}"
        time.sleep(0.1)


def _ended(api: Api, job: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while not api.c.get(f"/tasks/{job}").json()[0]["complete"]:
        assert time.monotonic() < deadline, f"job {job} did not end"
        time.sleep(0.1)
    return dict(api.c.get(f"/tasks/{job}").json()[0])


@pytest.mark.parametrize(
    ("fail", "kind", "words"),
    [
        ("boot_once_from_cd", "boot", "boot_once_from_cd refused"),
        ("restart", "power", "restart refused"),
        ("insert_media", "media", "insert_media refused"),
        ("systems", "unreachable", "systems refused"),
    ],
)
def test_a_refused_step_fails_the_deployment_clearly(
    api: Api, ctx: Context, fail: str, kind: str, words: str
) -> None:
    profile = _prepare(api, ctx)
    bmc = ScriptedBmc(fail, kind)
    ctx.bmc_reader = bmc
    task = _run(api, profile)
    assert task["status"] == "Stopped" and task["messages"][0]["id"] == "FQXHMFC9054M"
    assert words in task["messages"][0]["explanation"]
    host = api.c.get(f"/hostPlatforms/{UUID}").json()
    assert host["deployStatus"]["id"] == "20" and words in host["deployStatus"]["message"]
    if fail != "systems":  # once the BMC was reached, whatever it holds is ejected
        assert bmc.calls[-1] == "eject_media"
    # the host is free for the next deployment, which goes through to the installer
    ctx.bmc_reader = ScriptedBmc()
    r = api.c.put("/hostPlatforms", json={"uuid": UUID, "selectedImage": profile})
    assert r.status_code == 200
    _until_state(api, "11")
    # an administrator may report a state the installer could not (with a login)
    r = api.c.put(f"/hostPlatforms/{UUID}", json={"deployStatus": {"id": 17}})
    assert r.status_code == 200 and r.json()["deployStatus"]["name"] == "OS Installation Completed"
    (job,) = [t for t in api.c.get("/tasks").json() if t["status"] == "Running"]
    assert _ended(api, job["id"])["status"] == "Complete"


def test_status_calls_are_checked(api: Api, ctx: Context) -> None:
    profile = _prepare(api, ctx)
    ctx.bmc_reader = ScriptedBmc()
    r = api.c.put("/hostPlatforms", json=[{"uuid": UUID, "selectedImage": profile}])
    assert r.status_code == 200
    _until_state(api, "11")
    # another client, without a login (no `with`: its lifespan would stop the app's tasks)
    anonymous = api.c.__class__(api.c.app, base_url="https://testserver")
    for token in ("x" * 43, "short"):
        r = anonymous.put(
            f"/hostPlatforms/{UUID}",
            json={"deployStatus": {"id": 14}},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 404, r.text
    r = anonymous.put(f"/hostPlatforms/{UUID}", json={"deployStatus": {"id": 14}})
    assert r.status_code == 401
    for body in (
        {"deployStatus": {"id": 99}},
        {"deployStatus": {"id": "x"}},
        {"deployStatus": 3},
        {"deployStatus": {"id": 21}},
        {"deployStatus": {"id": True}},
        {"deployStatus": {"id": "1" * 5000}},  # int() refuses it: it was a 500
        {"deployStatus": {"id": "1\u00b2"}},
        {},
    ):
        r = api.c.put(f"/hostPlatforms/{UUID}", json=body)
        assert r.status_code == 400 and "deployStatus.id" in r.text, (body, r.text)
    # what the host says is kept printable (shown on terminals), on either catalog
    said = {"id": 14, "message": "a\x00b \x1b[2J"}
    r = api.c.put(f"/hostPlatforms/{UUID}", json={"deployStatus": said})
    assert r.status_code == 200, r.text
    assert r.json()["deployStatus"]["message"] == "a\\x00b \\x1b[2J"
    r = api.c.put(f"/hostPlatforms/{UUID}", json={"deployStatus": {"id": 24, "message": "no SAN"}})
    assert r.status_code == 200
    (task,) = [t for t in api.c.get("/tasks").json() if t["typeId"] == "OSDeploy"]
    done = _ended(api, task["id"])
    assert done["status"] == "Stopped"
    assert "unsupported SAN detected failure" in done["messages"][0]["explanation"]
    r = api.c.put(f"/hostPlatforms/{UUID}", json={"deployStatus": {"id": 14}})
    assert r.status_code == 409 and r.json()["messages"][0]["id"] == "FQXHMFC9055J"


def test_a_deployment_left_behind_by_a_stopped_node_does_not_block_its_host(
    api: Api, ctx: Context
) -> None:
    """A node that dies with a deployment leaves the host's state behind; its job is
    Stopped by the survivors (services/nodes.py). The host is free again: a new
    deployment starts."""
    from osdepot.domain.images import ImageType
    from osdepot.domain.jobs import JobStatus

    profile = _prepare(api, ctx)
    cat = ctx.catalog
    job = cat.create_job(ImageType.OSPROFILE, "admin", 1.0, None, "Deployment of x")
    assert cat.claim_job(job.id, JobStatus.PENDING, 0, 1.0, None, profile, "gone-node/1")
    assert not cat.begin_deploys([(UUID, job.id, profile, "f" * 64)], 1.0, list(range(4, 17)))
    assert cat.deploy_state(UUID, job.id, 14, "", 2.0)
    assert cat.finish_job(job.id, JobStatus.STOPPED, 3.0, {"id": "FQXHMFC9048M"})
    ctx.bmc_reader = ScriptedBmc()
    r = api.c.put("/hostPlatforms", json={"uuid": UUID, "selectedImage": profile})
    assert r.status_code == 200, r.text
    assert r.json()["jobId"] != str(job.id)


SETTINGS_DOC = {
    "name": "server-settings",
    "type": "assoc_array",
    "content": [
        {"name": "ntp", "type": "string", "value": "ntp.example.com"},
        {
            "name": "site",
            "type": "assoc_array",
            "content": [{"name": "rack", "type": "integer", "value": 7}],
        },
    ],
}

OWN_KICKSTART = """#version=RHEL9
text
network --hostname=#predefined.hostPlatforms.networkSettings.hostname# --bootproto=dhcp
rootpw --iscrypted #predefined.globalSettings.credentials.passwordHash#
timesource --ntp-server=#ntp#
# rack #site.rack#; left alone: #not-a-macro# and #another.unknown#
autopart
%packages
@^minimal-environment
%end
"""


class SlowMediaBmc(ScriptedBmc):
    """Its virtual media take half a second to insert (a real BMC: several)."""

    def __init__(self) -> None:
        super().__init__()
        self.inserting = threading.Event()

    def insert_media(self, access: BmcAccess, system: str, urls: Sequence[str]) -> None:
        self._act("insert_media")
        self.inserting.set()
        time.sleep(0.5)
        self.calls.append("inserted")


def test_a_deployment_cancelled_while_the_bmc_inserts_its_media_ejects_them_after(
    api: Api, ctx: Context
) -> None:
    """A cancel stops the deployment's task at once; arriving while the BMC was asked
    to insert the media (a thread), the task's cleanup ejected them while the insert
    still ran — which then completed: the server kept the media, pointing at links
    the cleanup had revoked. The cancel now waits for the BMC's answer."""
    profile = _prepare(api, ctx)
    bmc = SlowMediaBmc()
    ctx.bmc_reader = bmc
    r = api.c.put("/hostPlatforms", json={"uuid": UUID, "selectedImage": profile})
    assert r.status_code == 200, r.text
    job = r.json()["jobId"]
    assert bmc.inserting.wait(30)
    r = api.c.put("/tasks", json={"action": "cancel", "list": [int(job)]})
    assert r.status_code == 200, r.text
    assert _ended(api, job)["status"] == "Cancelled"
    time.sleep(0.6)  # what the BMC's thread does, done
    assert bmc.calls[-3:] == ["insert_media", "inserted", "eject_media"], bmc.calls
    assert "restart" not in bmc.calls


def test_a_deployment_that_meets_the_catalog_unreachable_says_so_in_a_line(
    api: Api, ctx: Context, caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL restarting while a deployment issued its medium's link: the job ended
    "Internal error (OperationalError)" with a traceback in the log (the two-node
    cluster under load). Now the job says the catalog could not be reached, in a
    warning line."""
    from sqlalchemy.exc import OperationalError

    profile = _prepare(api, ctx)
    ctx.bmc_reader = ScriptedBmc()
    add_link, failed = ctx.catalog.add_link, list[int]()

    def restarting(*args: Any, **kwargs: Any) -> Any:
        if not failed:
            failed.append(1)
            gone = Exception("terminating connection due to administrator command")
            raise OperationalError("INSERT INTO links ...", {}, gone)
        return add_link(*args, **kwargs)

    ctx.catalog.add_link = restarting  # type: ignore[method-assign]
    task = _run(api, profile)
    assert task["status"] == "Stopped", task
    explanation = task["messages"][0]["explanation"]
    assert "could not be reached (terminating connection" in explanation, explanation
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert "the catalog cannot be reached" in caplog.text


def test_a_deployment_whose_end_meets_the_catalog_unreachable_ends_once_it_is_back(
    api: Api, ctx: Context, caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL killed while a deployment was ending (the two-node cluster under load,
    PostgreSQL SIGKILLed): its end — the links revoked, the host's deployment ended,
    the job Stopped — raised from the failure path itself: "Task exception was never
    retrieved" in the log, the job Running and the host deploying until a restart. The
    end is written again once the catalog answers, in a warning line."""
    from sqlalchemy.exc import OperationalError

    profile = _prepare(api, ctx)
    ctx.bmc_reader = ScriptedBmc()
    add_link, end_deploy, failed = ctx.catalog.add_link, ctx.catalog.end_deploy, list[str]()

    def down(what: str) -> OperationalError:
        failed.append(what)
        gone = Exception("connection failed: connection to server at 127.0.0.1 refused")
        return OperationalError(what, {}, gone)

    def add_link_down(*args: Any, **kwargs: Any) -> Any:
        if "add_link" not in failed:
            raise down("add_link")
        return add_link(*args, **kwargs)

    def end_deploy_down(*args: Any, **kwargs: Any) -> Any:
        if failed.count("end_deploy") < 2:  # still down for the end, twice
            raise down("end_deploy")
        return end_deploy(*args, **kwargs)

    ctx.catalog.add_link = add_link_down  # type: ignore[method-assign]
    ctx.catalog.end_deploy = end_deploy_down  # type: ignore[method-assign]
    task = _run(api, profile)
    assert task["status"] == "Stopped", task
    assert "could not be reached" in task["messages"][0]["explanation"]
    assert failed == ["add_link", "end_deploy", "end_deploy"]
    host = api.c.get(f"/hostPlatforms/{UUID}").json()
    assert host["deployStatus"]["id"] == "20", host  # Failed, no longer deploying
    assert "could not be reached" in host["deployStatus"]["message"]
    assert "its end is recorded once the catalog answers again" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_a_deployment_whose_medium_is_deleted_on_the_way_ends_with_a_line(
    api: Api, ctx: Context, caplog: pytest.LogCaptureFixture
) -> None:
    """A deployment cancelled on another node while this node's task still ran, and its
    OS image deleted then (no longer deploying): issuing the medium's link was refused
    ("File … does not exist"), and the job ended "Internal error (OsdepotError)" with a
    traceback (the two-node cluster under load). The refusal is the job's reason now,
    in a warning line."""
    profile = _prepare(api, ctx)
    ctx.bmc_reader = ScriptedBmc()

    def deleted(file_id: str, *args: Any, **kwargs: Any) -> Any:
        raise Missing([file_id])

    ctx.catalog.add_link = deleted  # type: ignore[method-assign]
    task = _run(api, profile)
    assert task["status"] == "Stopped", task
    explanation = task["messages"][0]["explanation"]
    assert "does not exist" in explanation and "Internal error" not in explanation, explanation
    assert "does not exist" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


class RecordingBmc(ScriptedBmc):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def insert_media(self, access: BmcAccess, system: str, urls: Sequence[str]) -> None:
        self.urls = list(urls)
        super().insert_media(access, system, urls)


def test_a_profiles_own_unattend_file_gets_its_macros(api: Api, ctx: Context) -> None:
    """A customised profile's kickstart and configuration settings: LXCA's predefined
    macros and the settings' own replaced, osdepot's status calls added to a kickstart
    that makes none; a macro osdepot does not define refuses the deployment first."""
    import json

    from osdepot.content import config_volume

    base = _prepare(api, ctx)
    ks = api.import_file("UNATTEND", "own.ks", OWN_KICKSTART.encode(), os="rhel")
    cfg = api.import_file("CONFIG", "site.json", json.dumps(SETTINGS_DOC).encode(), os="rhel")
    options = {
        "unattendOptions": {"unattendFileIds": [ks]},
        "customConfigOptions": {"customConfigFileIds": [cfg]},
    }
    r = api.c.post(
        f"/osImages/{base.replace('|', '%7C')}",
        json={"profile": {"name": "own", "customizationOptions": options}},
    )
    assert r.status_code == 201, r.text
    own = r.json()["id"]
    bmc = RecordingBmc()
    ctx.bmc_reader = bmc
    r = api.c.put(
        "/hostPlatforms",
        json=[{"uuid": UUID, "selectedImage": own, "unattendFileId": "nosuch"}],
    )
    assert r.status_code == 400 and "unattendFileId" in r.text
    body = {
        "uuid": UUID,
        "selectedImage": own,
        "networkSettings": {"hostname": "own1"},
        "unattendFileId": ks,
        "configFileId": cfg,
    }
    r = api.c.put("/hostPlatforms", json=[body])
    assert r.status_code == 200, r.text
    _until_state(api, "11")
    volume_path = bmc.urls[1].split("://testserver", 1)[1]
    made = config_volume.read(api.c.get(volume_path).content)["ks.cfg"].decode()
    assert "network --hostname=own1 --bootproto=dhcp" in made
    (root,) = [line for line in made.splitlines() if line.startswith("rootpw")]
    assert root.startswith("rootpw --iscrypted $6$") and len(root.split()) == 3
    assert "timesource --ntp-server=ntp.example.com" in made and "# rack 7;" in made
    assert "#not-a-macro#" in made and "#another.unknown#" in made
    assert made.count("%post --nochroot") == 1 and "osdepot_status 17" in made
    api.c.put(f"/hostPlatforms/{UUID}", json={"deployStatus": {"id": 17}})

    undefined = OWN_KICKSTART + "#predefined.hostPlatforms.nosuch#\n"
    ks2 = api.import_file("UNATTEND", "own2.ks", undefined.encode(), os="rhel")
    r = api.c.post(
        f"/osImages/{base.replace('|', '%7C')}",
        json={
            "profile": {
                "name": "own2",
                "customizationOptions": {"unattendOptions": {"unattendFileIds": [ks2]}},
            }
        },
    )
    assert r.status_code == 201, r.text
    _until_state(api, "17")
    r = api.c.put("/hostPlatforms", json=[{"uuid": UUID, "selectedImage": r.json()["id"]}])
    assert r.status_code == 412 and "#predefined.hostPlatforms.nosuch#" in r.text


def test_windows_with_an_active_directory_join(api: Api, ctx: Context) -> None:
    """A Windows profile: autounattend.xml on a volume labelled OSDEPOT, the
    Administrator password and the product key set, the domain joined with the
    account the entry gives (its OU from the global settings); a join asked of a
    Linux profile, for a domain the settings do not list or without the password is
    refused before anything starts."""
    import xml.etree.ElementTree as ET

    from osdepot.content import config_volume

    linux = _prepare(api, ctx)
    api.import_file("OS", "w.iso", medium_bytes("windows"), os="windows")
    windows = next(
        p["id"] for i in api.listing()["items"] if i["os"] == "windows" for p in i["profiles"]
    )
    settings = {
        "activeDirectory": {
            "allDomains": [{"domainName": "corp.example.com", "OU": "OU=Servers,DC=corp"}],
            "defaultDomain": "corp.example.com",
        },
        "credentials": [
            {
                "type": "WINDOWS",
                "name": "Administrator",
                "password": "Adm1n!",
                "passwordChanged": True,
            }
        ],
        "ipAssignment": "dhcpv4",
        "isVLANMode": False,
        "licenseKeys": {},
    }
    assert api.c.put("/osdeployment/globalSettings", json=settings).status_code == 200
    join = {"windowsDomain": "CORP.example.com", "adusername": "joiner", "adpassword": "J0in!"}
    bad = [
        ({"selectedImage": linux, **join}, 400, "Only Windows servers join a domain"),
        ({"selectedImage": windows, **join, "windowsDomain": "other.example"}, 400, "not one of"),
        ({"selectedImage": windows, **join, "adpassword": ""}, 412, "adpassword"),
        ({"selectedImage": windows, "windowsDomainBlob": "x"}, 400, "printblob"),
        ({"selectedImage": windows, "windowsDomainBlob": "QUJD" * 20_000}, 400, "at most"),
        ({"selectedImage": linux, "windowsDomainBlob": "QUJD"}, 400, "Only Windows"),
    ]
    for entry, status, words in bad:
        r = api.c.put("/hostPlatforms", json=[{"uuid": UUID, **entry}])
        assert r.status_code == status and words in r.text, (entry, r.text)
    bmc = RecordingBmc()
    ctx.bmc_reader = bmc
    entry = {
        "uuid": UUID,
        "selectedImage": windows,
        "licenseKey": "AAAAA-BBBBB-CCCCC-DDDDD-EEEEE",
        **join,
    }
    r = api.c.put("/hostPlatforms", json=[entry])
    assert r.status_code == 200, r.text
    _until_state(api, "11")
    volume = api.c.get(bmc.urls[1].split("://testserver", 1)[1]).content
    files = config_volume.read(volume)
    assert set(files) == {"autounattend.xml"}
    root = ET.fromstring(files["autounattend.xml"])
    u = {"u": "urn:schemas-microsoft-com:unattend"}
    assert root.findtext(".//u:JoinDomain", namespaces=u) == "corp.example.com"
    assert root.findtext(".//u:MachineObjectOU", namespaces=u) == "OU=Servers,DC=corp"
    assert root.findtext(".//u:ProductKey/u:Key", namespaces=u) == "AAAAA-BBBBB-CCCCC-DDDDD-EEEEE"
    assert "J0in!" not in api.c.get("/hostPlatforms").text
    assert "J0in!" not in str(api.c.get("/tasks").json())
    # the installer reports a failed join: the deployment fails with LXCA's words
    r = api.c.put(f"/hostPlatforms/{UUID}", json={"deployStatus": {"id": 26}})
    assert r.status_code == 200
    (task,) = [t for t in api.c.get("/tasks").json() if t["typeId"] == "OSDeploy"]
    done = _ended(api, task["id"])
    assert "Active directory join failed" in done["messages"][0]["explanation"]

    # an offline join (windowsDomainBlob): the blob goes into the file, and nowhere else
    blob = base64.b64encode(b"offline domain join provisioning data " * 8).decode()
    r = api.c.put(
        "/hostPlatforms",
        json=[
            {
                "uuid": UUID,
                "selectedImage": windows,
                "windowsDomainBlob": blob[:60] + "\n" + blob[60:],
            }
        ],
    )
    assert r.status_code == 200, r.text
    _until_state(api, "11")
    volume = api.c.get(bmc.urls[-1].split("://testserver", 1)[1]).content
    root = ET.fromstring(config_volume.read(volume)["autounattend.xml"])
    path = ".//u:OfflineIdentification/u:Provisioning/u:AccountData"
    assert root.findtext(path, namespaces=u) == blob
    assert blob[:60] not in api.c.get("/hostPlatforms").text
    assert blob[:60] not in str(api.c.get("/tasks").json())


def test_a_bmc_is_not_removed_under_a_deployment_that_began_after_the_check(
    api: Api, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Removing a BMC checked its systems' deployments, then deleted in another
    transaction: a deployment that began between the two lost its host and BMC. The
    deletion itself refuses now, and a BMC another request removed meanwhile is a 404."""
    from osdepot.services.hosts import Hosts

    profile = _prepare(api, ctx)
    ctx.bmc_reader = ScriptedBmc()
    r = api.c.put("/hostPlatforms", json=[{"uuid": UUID, "selectedImage": profile}])
    assert r.status_code == 200
    _until_state(api, "11")
    (bmc,) = api.c.get("/bmcs").json()["bmcs"]

    async def not_yet(_self: Hosts, _host: Any) -> bool:
        return False  # the check saw no deployment: it began right after

    monkeypatch.setattr(Hosts, "deploying", not_yet)
    r = api.c.delete(f"/bmcs/{bmc['id']}")
    assert r.status_code == 409, r.text
    assert "runs on one of its systems" in r.json()["messages"][0]["explanation"]
    assert api.c.get(f"/hostPlatforms/{UUID}").json()["deployStatus"]["id"] == "11"
    # removed by another request between the check and the deletion: a 404, not a
    # second success
    monkeypatch.setattr(ctx.catalog, "delete_bmc", lambda _bmc_id: False)
    r = api.c.delete(f"/bmcs/{bmc['id']}")
    assert r.status_code == 404, r.text


def test_a_profile_is_not_deleted_under_a_deployment_that_began_after_the_check(
    api: Api, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deleting an OS image checked the running deployments, then deleted in another
    transaction: a deployment that began between the two installed from a medium that
    was gone. The deletion itself refuses now; and a deployment whose profile was
    deleted after its checks is refused, its job Stopped, nothing sent to the BMC."""
    from osdepot.services.repository import Repository

    profile = _prepare(api, ctx)
    image = profile.split("|")[0]
    ctx.bmc_reader = ScriptedBmc()
    r = api.c.put("/hostPlatforms", json=[{"uuid": UUID, "selectedImage": profile}])
    assert r.status_code == 200
    _until_state(api, "11")

    async def not_yet(_self: Repository, _ids: list[str]) -> None:
        return None  # the check saw no deployment: it began right after

    monkeypatch.setattr(Repository, "_not_deploying", not_yet)
    for going in (profile, image):
        r = api.c.delete(f"/osImages/{going}")
        assert r.status_code == 409, r.text
        assert "installs from it" in r.json()["messages"][0]["explanation"], r.text
    assert [i["id"] for i in api.listing()["items"]] == [image]
    # the deployment ends; another begins, and the image goes after its checks
    api.c.put(f"/hostPlatforms/{UUID}", json={"deployStatus": {"id": 24, "message": "x"}})
    (task,) = [t for t in api.c.get("/tasks").json() if t["typeId"] == "OSDeploy"]
    _ended(api, task["id"])
    real_claim = ctx.catalog.claim_job

    def claim_then_delete(*args: Any) -> bool:
        claimed = real_claim(*args)
        ctx.catalog.delete_objects([image])  # another request's deletion, just now
        return claimed

    monkeypatch.setattr(ctx.catalog, "claim_job", claim_then_delete)
    bmc = ScriptedBmc()
    ctx.bmc_reader = bmc
    r = api.c.put("/hostPlatforms", json=[{"uuid": UUID, "selectedImage": profile}])
    assert r.status_code == 404, r.text
    assert "deleted just now" in r.json()["messages"][0]["explanation"]
    deploys = [t for t in api.c.get("/tasks").json() if t["typeId"] == "OSDeploy"]
    assert len(deploys) == 2 and deploys[-1]["status"] == "Stopped", deploys
    assert "The profile was deleted" in deploys[-1]["messages"][0]["explanation"]
    assert api.c.get(f"/hostPlatforms/{UUID}").json()["deployStatus"]["id"] != "4"
    assert bmc.calls == []


def _second_host(ctx: Context) -> str:
    """A second host, behind a BMC of its own; its UUID."""
    other = "D" * 32
    ctx.catalog.add_bmc(
        Bmc(0, "https://bmc2.example", "u", created_by="admin", created_at=1.0, refreshed_at=1.0),
        [Host(other, 0, "/redfish/v1/Systems/d", name="d", virtual_cd=True, refreshed_at=1.0)],
    )
    return other


def test_a_deployment_to_several_hosts_starts_on_all_or_none(
    api: Api, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two hosts in one request, the second taken by another deployment after the
    request's checks: before, the first host's deployment had started (its BMC told to
    boot the installer) when the request answered 409 "No deployment was started" —
    without the first one's job id. Every host is now begun in one transaction, or
    none: 409, neither host deploying, nothing sent to a BMC."""
    from sqlalchemy import update

    from osdepot.services.deploy_orders import OrderChecks
    from osdepot.storage.schema import hosts

    profile = _prepare(api, ctx)
    other = _second_host(ctx)
    bmc = ScriptedBmc()
    ctx.bmc_reader = bmc
    addresses = OrderChecks.addresses

    async def then_taken(self: OrderChecks, *args: Any) -> None:
        await addresses(self, *args)
        with ctx.catalog.engine.begin() as c:  # type: ignore[attr-defined]  # another request
            c.execute(update(hosts).where(hosts.c.uuid == other).values(deploy_status=11))

    monkeypatch.setattr(OrderChecks, "addresses", then_taken)
    body = [{"uuid": UUID, "selectedImage": profile}, {"uuid": other, "selectedImage": profile}]
    r = api.c.put("/hostPlatforms", json=body)
    assert r.status_code == 409, r.text
    assert r.json()["messages"][0]["id"] == "FQXHMFC9055J"
    assert other in r.json()["messages"][0]["text"]
    time.sleep(0.5)  # (a deployment started would have reached its BMC by now)
    assert api.c.get(f"/hostPlatforms/{UUID}").json()["deployStatus"]["id"] not in {
        str(s) for s in range(4, 17)
    }
    assert bmc.calls == []
    tasks = [t for t in api.c.get("/tasks").json() if t["typeId"] == "OSDeploy"]
    assert len(tasks) == 2 and all(t["status"] == "Stopped" for t in tasks), tasks
    monkeypatch.setattr(OrderChecks, "addresses", addresses)
    r = api.c.put("/hostPlatforms", json=body[:1])  # the first host is free
    assert r.status_code == 200, r.text


def test_a_deployment_refused_by_the_open_jobs_limit_starts_on_no_host(
    api: Api, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two hosts, and another job of the user made between the request's check of its
    open jobs and the second host's job, which the limit then refuses: before, the
    first host's deployment had started when the request answered 409. Every job of
    the request is made before any host is begun now; the ones made are Stopped."""
    from dataclasses import replace

    from osdepot.domain.images import ImageType

    profile = _prepare(api, ctx)
    other = _second_host(ctx)
    bmc = ScriptedBmc()
    ctx.bmc_reader = bmc
    ctx.settings = replace(ctx.settings, max_open_jobs_per_user=2)
    create_job = ctx.catalog.create_job
    made: list[int] = []

    def and_another(*args: Any) -> Any:
        job = create_job(*args)
        made.append(job.id)
        if len(made) == 1:  # another request's import job of the same user, just now
            made.append(create_job(ImageType.OS, "admin", 1.0, None, "").id)
        return job

    monkeypatch.setattr(ctx.catalog, "create_job", and_another)
    body = [{"uuid": UUID, "selectedImage": profile}, {"uuid": other, "selectedImage": profile}]
    r = api.c.put("/hostPlatforms", json=body)
    assert r.status_code == 409, r.text
    assert r.json()["messages"][0]["id"] == "FQXHMFC9063J"
    time.sleep(0.5)  # (a deployment started would have reached its BMC by now)
    assert bmc.calls == []
    tasks = [t for t in api.c.get("/tasks").json() if t["typeId"] == "OSDeploy"]
    assert [t["status"] for t in tasks] == ["Stopped"], tasks


def test_a_deployment_whose_start_fails_leaves_no_job_running(
    api: Api, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The catalog failing as the hosts are begun (here an error of its own): the jobs
    made for the request are Stopped, not left Running with nothing to run them."""
    profile = _prepare(api, ctx)
    ctx.bmc_reader = ScriptedBmc()

    def fails(*_args: Any) -> Any:
        raise RuntimeError("the catalog failed")

    monkeypatch.setattr(ctx.catalog, "begin_deploys", fails)
    with pytest.raises(RuntimeError):
        api.c.put("/hostPlatforms", json={"uuid": UUID, "selectedImage": profile})
    tasks = [t for t in api.c.get("/tasks").json() if t["typeId"] == "OSDeploy"]
    assert [t["status"] for t in tasks] == ["Stopped"], tasks
