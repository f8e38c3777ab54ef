"""Installation media imported over the API: recognised, catalogued with profiles,
refused when they are not what they claim, and never duplicated."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osdepot.services.context import Context
from tests.conftest import Api, sha256, staging_files, stored_blobs
from tests.media import make_iso, medium_bytes
from tests.samples import rpm_bytes, zip_bytes

LINUX = ["Basic", "Minimal", "Virtualization"]
FAMILIES = [  # kind, os parameter, arguments, image id, profile names
    ("rhel", "rhel", {}, "rhels9.4", LINUX),
    ("centos", "centos", {"version": "9"}, "centos-stream9", LINUX),
    ("rocky", "rocky", {"version": "9.3"}, "rocky9.3", LINUX),
    ("alma", "alma", {}, "alma9.4", LINUX),
    ("oracle", "oracle", {"version": "9.3"}, "oracle9.3", LINUX),
    ("sles", "sles", {}, "sles15sp5", LINUX),
    ("ubuntu", "ubuntu", {}, "ubuntu22.04", ["Basic"]),
    ("esxi", "vmware", {}, "esxi8.0u2", ["Virtualization"]),
    ("windows", "windows", {}, "win2022",
     ["Datacenter", "Datacenter_core", "Standard", "Standard_core"]),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "os_param", "kw", "image_id", "profiles"), FAMILIES)
def test_each_family_end_to_end(
    api: Api,
    ctx: Context,
    kind: str,
    os_param: str,
    kw: dict[str, str],
    image_id: str,
    profiles: list[str],
) -> None:
    data = medium_bytes(kind, **kw)
    job = api.init("OS", fileSize=len(data))
    r = api.upload(job, f"{kind}.iso", data, imageType="OS", imageName=kind, os=os_param)
    assert r.status_code == 201, r.text
    assert r.json()["imageId"] == image_id
    task = api.task(job)
    assert task["status"] == "Complete" and image_id in task["messages"][0]["explanation"]
    (item,) = api.listing()["items"]
    assert item["id"] == image_id and item["fileId"] == r.json()["fileid"]
    assert item["fileName"] == f"{kind}.iso" and item["size"] == len(data)
    assert item["sha256"] == sha256(data) and item["arch"] == "x86_64"
    assert sorted(p["profile"] for p in item["profiles"]) == profiles
    assert all(
        p["id"].startswith(f"{image_id}|{image_id}-x86_64-install-") for p in item["profiles"]
    )
    pid = item["profiles"][0]["id"]
    found = api.c.get("/osImages?imageType=OSPROFILE&id=" + pid.replace("|", "%7C")).json()
    assert [p["id"] for p in found["items"][0]["profiles"]] == [pid]
    r = api.c.request("DELETE", f"/osImages/{image_id}", content=b"{}")
    assert r.status_code == 200
    assert api.listing()["items"] == []
    empty = api.c.get("/osImages?imageType=OSPROFILE&id=" + pid.replace("|", "%7C")).json()
    assert empty["items"] == []
    assert stored_blobs(ctx.settings) == []


def test_a_release_is_imported_once(api: Api, ctx: Context) -> None:
    api.import_file("OS", "a.iso", medium_bytes("rhel"), os="rhel")
    job = api.init("OS")
    r = api.upload(job, "again.iso", medium_bytes("rhel"), imageName="x", os="rhel")
    assert r.status_code == 409
    msg = r.json()["messages"][0]
    assert msg["id"] == "FQXHMFC9024J" and "rhels9.4" in msg["text"]
    assert api.task(job)["messageID"] == "FQXHMFC9024J"
    assert len(stored_blobs(ctx.settings)) == 1 and staging_files(ctx.settings) == []
    # Another architecture of the same release is another image.
    api.import_file("OS", "arm.iso", medium_bytes("rhel", arch="aarch64"), os="rhel")
    assert {i["id"] for i in api.listing()["items"]} == {"rhels9.4", "rhels9.4-aarch64"}


def test_esxi_media_are_keyed_by_build(api: Api) -> None:
    api.import_file("OS", "a.iso", medium_bytes("esxi", build="22380479"), os="esxi")
    api.import_file("OS", "b.iso", medium_bytes("esxi", build="23305546"), os="esxi")
    ids = {i["id"]: i["osBuildId"] for i in api.listing()["items"]}
    assert ids == {"esxi8.0u2": "22380479", "esxi8.0u2-23305546": "23305546"}
    job = api.init("OS")
    r = api.upload(job, "c.iso", medium_bytes("esxi", build="23305546"), os="esxi")
    assert r.status_code == 409 and "build 23305546" in r.json()["messages"][0]["text"]


def test_refusals_store_nothing(api: Api, ctx: Context) -> None:
    with tempfile.TemporaryDirectory() as d:
        rescue = make_iso(Path(d) / "r.iso", {"boot/grub/grub.cfg": b"menuentry"}).read_bytes()
    cases = [
        (rescue, "FQXHMFC9023J", "not an installation medium"),
        (medium_bytes("ubuntu", server=False), "FQXHMFC9022J", "not a deployable server OS"),
        (b"MZ" + b"\x00" * 100_000, "FQXHMFC9021J", "is a Windows executable, not a valid"),
        (medium_bytes("rhel")[:-8192], "FQXHMFC9021J", "truncated"),
    ]
    for data, mid, words in cases:
        job = api.init("OS", fileSize=len(data))
        r = api.upload(job, "x.iso", data, imageName="x", os="")
        assert r.status_code == 400, r.text
        msg = r.json()["messages"][0]
        assert msg["id"] == mid and words in msg["text"] + msg["explanation"], msg
        task = api.task(job)
        assert task["status"] == "Stopped" and task["messageID"] == mid
    assert api.listing()["items"] == []
    assert stored_blobs(ctx.settings) == [] and staging_files(ctx.settings) == []


def test_drivers_attach_to_existing_images(api: Api) -> None:
    api.import_file("OS", "r.iso", medium_bytes("rhel"), os="rhel")
    api.import_file("OS", "w.iso", medium_bytes("windows"), os="windows")
    api.import_file("DUD", "kmod.rpm", rpm_bytes(), os="rhel", imageName="rhels9.4")
    drivers = zip_bytes({"net/net.inf": b"[Version]", "net/net.sys": b"MZ"})
    api.import_file("DUD", "net.zip", drivers, os="windows", imageName="win2022")
    got = {(d["name"], d["imageName"]) for d in api.listing()["deviceDrivers"]}
    assert got == {("kmod.rpm", "rhels9.4"), ("net.zip", "win2022")}
    job = api.init("DUD")
    r = api.upload(job, "k.rpm", rpm_bytes(), os="rhel", imageName="rhels8.0")
    assert r.status_code == 412 and "rhels8.0" in r.json()["messages"][0]["text"]
    job = api.init("DUD")
    r = api.upload(job, "bash.rpm", rpm_bytes("bash", ("bash",)), os="rhel", imageName="rhels9.4")
    assert r.status_code == 400 and "kernel-module" in r.json()["messages"][0]["text"]


_BASE = medium_bytes("sles")


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.tuples(st.integers(16 * 2048, len(_BASE) - 1), st.integers(0, 255)), max_size=30)
)
def test_damaged_media_over_the_api_never_give_a_500(
    api: Api, edits: list[tuple[int, int]]
) -> None:
    data = bytearray(_BASE)
    for pos, byte in edits:
        data[pos] = byte
    job = api.init("OS")
    r = api.upload(job, "d.iso", bytes(data), os="sles")
    assert r.status_code in (201, 400, 409), r.text
    assert r.json()["result"] in ("success", "failed")
    if r.status_code == 201:
        api.c.request("DELETE", f"/osImages/{r.json()['imageId']}", content=b"{}")


def test_a_damaged_medium_is_refused_naming_the_file(api: Api, ctx: Context) -> None:
    # The kernel's bytes differ from the SHA-256 its .treeinfo declares: the medium is
    # recognised, then checked against its own metadata before the commit, and refused.
    from tests.media import rhel_like_files

    files = rhel_like_files()
    files["images/pxeboot/vmlinuz"] = b"kernal"
    with tempfile.TemporaryDirectory() as d:
        path = make_iso(Path(d) / "m.iso", files, volume_id="RHEL-9-4-0-BaseOS-x86_64")
        data = path.read_bytes()
    job = api.init("OS", fileSize=len(data))
    r = api.upload(job, "rhel.iso", data, imageType="OS", os="rhel")
    assert r.status_code == 400, r.text
    (m,) = r.json()["messages"]
    assert m["id"] == "FQXHMFC9039J"
    assert (
        "images/pxeboot/vmlinuz: SHA-256 does not match the medium's .treeinfo"
        in (m["explanation"])
    )
    assert api.task(job)["status"] == "Stopped"
    assert api.listing()["items"] == []
    assert stored_blobs(ctx.settings) == [] and staging_files(ctx.settings) == []
    # A sound medium says what was checked in its job's message.
    data = medium_bytes("rhel")
    job = api.init("OS", fileSize=len(data))
    assert api.upload(job, "rhel.iso", data, imageType="OS", os="rhel").status_code == 201
    assert "were checked against its .treeinfo" in api.task(job)["messages"][0]["explanation"]
