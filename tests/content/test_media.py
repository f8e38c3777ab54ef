"""Recognition of synthetic media with the real file layout of each family."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from osdepot.content.inspect import inspect_path
from osdepot.domain.images import FAMILIES, ImageType
from tests.media import make_iso, medium, patch_header, rhel_like_files, windows_files

FAMILY_CASES = [
    ("rhel", {}, "rhels9.4", "rhel9.4", 3),
    ("rhel", {"version": "8.10"}, "rhels8.10", "rhel8.10", 3),
    ("rhel", {"arch": "aarch64"}, "rhels9.4-aarch64", "rhel9.4", 3),
    ("rocky", {"version": "9.3"}, "rocky9.3", "rocky9", 3),
    ("alma", {"version": "9.4"}, "alma9.4", "almalinux9", 3),
    ("centos", {"version": "9"}, "centos-stream9", "centos-stream9", 3),
    ("oracle", {"version": "9.3"}, "oracle9.3", "ol9.3", 3),
    ("sles", {"version": "15 SP5"}, "sles15sp5", "sle15sp5", 3),
    ("sles", {"version": "12 SP5"}, "sles12sp5", "sles12sp5", 3),
    ("ubuntu", {"version": "22.04.3"}, "ubuntu22.04", "ubuntu22.04", 1),
    ("esxi", {"version": "8.0.2", "build": "22380479"}, "esxi8.0u2", None, 1),
    ("esxi", {"version": "7.0.0", "build": "15843807"}, "esxi7.0", None, 1),
    ("windows", {}, "win2022", "win2k22", 4),
]


def run(path: Path, family: str | None = None):  # type: ignore[no-untyped-def]
    fam = FAMILIES[family] if family else None
    return inspect_path(path, ImageType.OS, fam, path.name, os.environ.get("OSDEPOT_OSINFO_PATH"))


@pytest.mark.parametrize(("kind", "kw", "image_id", "osinfo_id", "profiles"), FAMILY_CASES)
def test_each_family_is_recognised(
    tmp_path: Path,
    osinfo_db: Path,
    kind: str,
    kw: dict[str, str],
    image_id: str,
    osinfo_id: str | None,
    profiles: int,
) -> None:
    r = run(medium(tmp_path / "m.iso", kind, **kw))
    assert r.valid, r.as_json()
    assert r.os is not None and r.os.source == "files"
    assert (r.os.image_id, r.os.osinfo_id, len(r.os.profiles)) == (image_id, osinfo_id, profiles)
    assert r.bytes_read < 64 * 1024


def test_windows_editions_and_installation_types(tmp_path: Path) -> None:
    r = run(medium(tmp_path / "w.iso", "windows"))
    assert r.os is not None
    assert r.os.profiles == ["Standard_core", "Standard", "Datacenter_core", "Datacenter"]
    assert {e["installationType"] for e in r.os.editions} == {"Server", "Server Core"}
    assert r.os.build == "20348" and r.os.version == "2022"


@pytest.mark.parametrize(("build", "year"), [(14393, "2016"), (17763, "2019"), (26100, "2025")])
def test_windows_build_numbers(tmp_path: Path, build: int, year: str) -> None:
    eds = [{"name": "S", "edition": "ServerDatacenter", "install": "Server", "build": build}]
    r = run(medium(tmp_path / "w.iso", "windows", editions=eds))
    assert r.valid and r.os is not None and r.os.image_id == f"win{year}"


def test_a_windows_architecture_number_past_any_int_is_not_an_error(tmp_path: Path) -> None:
    """The image list's ARCH and INDEX are read as numbers: 5,000 digits, or an INDEX
    that is no number, made int() raise in the middle of the content check (before);
    now they are an unknown architecture and index. 0 is x86."""
    for arch, image_id in (("9" * 5000, "win2022"), ("²", "win2022"), (0, "win2022-x86")):
        index = "one" if arch == 0 else "9" * 5000
        eds = [{"name": "S", "edition": "ServerDatacenter", "install": "Server",
                "build": 20348, "arch": arch, "index": index}]  # fmt: skip
        r = run(medium(tmp_path / f"a{len(str(arch))}.iso", "windows", editions=eds))
        assert r.valid and r.os is not None and r.os.image_id == image_id, arch


def test_windows_client_and_unknown_builds_are_refused(tmp_path: Path) -> None:
    client = [{"name": "Windows 11 Pro", "edition": "Professional", "install": "Client",
               "build": 22621, "product": "WinNT"}]  # fmt: skip
    r = run(medium(tmp_path / "c.iso", "windows", editions=client))
    assert not r.valid and "Windows 11, a client edition" in r.messages[0]["text"]
    odd = [{"name": "S", "edition": "ServerStandard", "install": "Server", "build": 9600}]
    r = run(medium(tmp_path / "o.iso", "windows", editions=odd))
    assert not r.valid and "build 9600" in r.messages[0]["text"]


def test_ubuntu_desktop_is_not_a_server_os(tmp_path: Path) -> None:
    r = run(medium(tmp_path / "u.iso", "ubuntu", server=False))
    assert not r.valid
    assert r.messages[0]["id"] == "FQXHMFC9022J"
    assert "Ubuntu Desktop 22.04, which is not a deployable server OS" in r.messages[0]["text"]


def test_files_win_over_the_header(tmp_path: Path, osinfo_db: Path) -> None:
    p = make_iso(
        tmp_path / "x.iso", rhel_like_files("rhel", "9.4"), volume_id="Fedora-S-dvd-x86_64-38"
    )
    r = run(p)
    assert r.valid and r.os is not None and r.os.family == "rhel"
    assert any("Fedora" in n for n in r.os.notes)


def test_a_header_alone_names_a_foreign_os(tmp_path: Path, osinfo_db: Path) -> None:
    p = make_iso(tmp_path / "f.iso", {"readme": b"x"}, volume_id="Fedora-S-dvd-x86_64-38")
    r = run(p)
    assert not r.valid and r.os is not None and r.os.osinfo_id == "fedora38"
    assert "Fedora Linux 38, which is not a deployable server OS" in r.messages[0]["text"]


def test_a_server_header_on_an_unbootable_disc_is_not_a_medium(
    tmp_path: Path, osinfo_db: Path
) -> None:
    p = make_iso(
        tmp_path / "r.iso", {"readme": b"x"}, bootable=False, volume_id="RHEL-9-2-0-BaseOS-x86_64"
    )
    r = run(p)
    assert not r.valid and r.messages[0]["id"] == "FQXHMFC9023J"
    bootable = make_iso(tmp_path / "b.iso", {"readme": b"x"}, volume_id="RHEL-9-2-0-BaseOS-x86_64")
    r = run(bootable)
    assert r.valid and r.os is not None and r.os.source == "header"
    assert (r.os.image_id, r.os.osinfo_id) == ("rhels9.2", "rhel9.2")


def test_the_os_parameter_must_agree_with_the_medium(tmp_path: Path) -> None:
    sles = medium(tmp_path / "s.iso", "sles")
    r = run(sles, "rhel")
    assert not r.valid and "the os parameter says rhel" in r.messages[0]["explanation"]
    assert run(medium(tmp_path / "r.iso", "rocky", version="9.3"), "rhel").valid  # a rebuild
    assert run(sles, "sles").valid


def test_without_osinfo_db_files_still_decide(tmp_path: Path) -> None:
    r = inspect_path(medium(tmp_path / "m.iso", "rhel"), ImageType.OS, None, "m.iso", str(tmp_path))
    assert r.valid and r.os is not None and r.os.image_id == "rhels9.4" and r.os.osinfo_id is None


def test_recognising_an_8_gib_medium_reads_a_tiny_share(tmp_path: Path) -> None:
    p = make_iso(tmp_path / "big.iso", windows_files(), udf=True, volume_id="SSS_X64FREE_EN-US_DV9")
    patch_header(p, volume_size=8 << 30)  # sparse: 8 GiB on paper, a few hundred KiB on disk
    r = run(p)
    assert r.valid and r.size == 8 << 30
    assert r.bytes_read / r.size < 1e-4, r.bytes_read


def test_same_family_other_release_in_the_header(tmp_path: Path, osinfo_db: Path) -> None:
    p = make_iso(
        tmp_path / "x.iso", rhel_like_files("rhel", "9.4"), volume_id="RHEL-9-2-0-BaseOS-x86_64"
    )
    r = run(p)
    assert r.valid and r.os is not None
    assert (r.os.image_id, r.os.osinfo_id) == ("rhels9.4", "rhel9.4")
    assert any("Red Hat Enterprise Linux 9.2" in n for n in r.os.notes)


@pytest.mark.parametrize(
    ("files", "image_id"),
    [
        (
            {"content": b"PRODUCT SUSE_SLES\nVERSION 12.5\nLABEL SUSE Linux Enterprise Server 12 "
             b"SP5\nBASEARCHS x86_64\n", "boot/x86_64/loader/linux": b"k"},
            "sles12sp5",
        ),
        ({"media.1/products": b"/ SLES15-SP4 15.4-0\n", "boot/x86_64/loader/linux": b"k"},
         "sles15sp4"),
        ({".discinfo": b"1700000000.0\nRed Hat Enterprise Linux 8.10\nx86_64\n"}, "rhels8.10"),
        ({"media.repo": b"[InstallMedia]\nname=AlmaLinux 9.4\n"}, "alma9.4"),
    ],
)  # fmt: skip
def test_other_identification_files(tmp_path: Path, files: dict[str, bytes], image_id: str) -> None:
    r = run(make_iso(tmp_path / "m.iso", files))
    assert r.valid and r.os is not None and r.os.image_id == image_id, r.as_json()


def test_debian_media_are_recognised_and_refused(tmp_path: Path) -> None:
    files = {
        ".disk/info": b'Debian GNU/Linux 12.5.0 "Bookworm" - Official amd64 NETINST 20240210',
        "install.amd/vmlinuz": b"k",
        "dists/bookworm/Release": b"Version: 12.5\n",
    }
    r = run(make_iso(tmp_path / "d.iso", files))
    assert not r.valid and r.os is not None and r.os.family == "debian"
    assert "Debian 12, which is not a deployable server OS" in r.messages[0]["text"]
