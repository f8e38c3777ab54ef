from __future__ import annotations

import pytest

from osdepot.domain.images import (
    EXTENSIONS,
    ImageType,
    OsKind,
    check_extension,
    parse_image_type,
    parse_os,
    resolve_os,
)
from osdepot.domain.jobs import JobStatus, can_transition
from osdepot.domain.names import check_image_id, clean_filename, make_file_id
from osdepot.domain.roles import Privilege, has_privilege, normalise_role
from osdepot.errors import OsdepotError


def test_image_type_parsing() -> None:
    assert parse_image_type("custom_config") is ImageType.CONFIG
    assert parse_image_type(None) is ImageType.OS
    assert parse_image_type("dud") is ImageType.DUD
    with pytest.raises(OsdepotError) as exc:
        parse_image_type("ISO")
    assert exc.value.status == 400


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("RHEL", "rhel"),
        ("win", "windows"),
        ("vmware", "esxi"),
        ("SLES", "sles"),
        ("Ubuntu", "ubuntu"),
        ("rocky", "rocky"),
    ],
)
def test_os_aliases(value: str, name: str) -> None:
    fam = parse_os(value)
    assert fam is not None and fam.name == name


def test_os_required_and_windows_default() -> None:
    with pytest.raises(OsdepotError) as exc:
        resolve_os(ImageType.SCRIPT, None)
    assert exc.value.status == 412
    fam = resolve_os(ImageType.BUNDLE, None)
    assert fam is not None and fam.name == "windows"
    assert resolve_os(ImageType.OS, None) is None


ACCEPT = [
    (ImageType.BOOT, "windows", "winpe.zip"),
    (ImageType.BUNDLE, "windows", "b.zip"),
    (ImageType.BUNDLESIG, "windows", "b.zip.asc"),
    (ImageType.CONFIG, "esxi", "c.json"),
    (ImageType.DUD, "rhel", "d.iso"),
    (ImageType.DUD, "rhel", "d.rpm"),
    (ImageType.DUD, "windows", "d.zip"),
    (ImageType.OS, "esxi", "x.ISO"),
    (ImageType.OSPROFILE, "rhel", "p.tar.gz"),
    (ImageType.SCRIPT, "sles", "s.py"),
    (ImageType.SCRIPT, "windows", "s.ps1"),
    (ImageType.SOFTWARE, "ubuntu", "s.tar.gz"),
    (ImageType.SOFTWARE, "windows", "s.zip"),
    (ImageType.UNATTEND, "rhel", "ks.ks"),
    (ImageType.UNATTEND, "windows", "unattend.xml"),
]
REFUSE = [
    (ImageType.BOOT, "rhel", "winpe.zip"),
    (ImageType.DUD, "esxi", "d.iso"),
    (ImageType.SCRIPT, "esxi", "s.sh"),
    (ImageType.SCRIPT, "windows", "s.sh"),
    (ImageType.SOFTWARE, "windows", "s.tar.gz"),
    (ImageType.UNATTEND, "windows", "ks.ks"),
    (ImageType.OS, "rhel", "x.img"),
    (ImageType.OS, "rhel", ".iso"),
    (ImageType.CONFIG, "rhel", "c.yaml"),
    (ImageType.OSPROFILE, None, "p.tgz"),
]


@pytest.mark.parametrize(("itype", "os_name", "filename"), ACCEPT)
def test_table_accepts(itype: ImageType, os_name: str, filename: str) -> None:
    check_extension(itype, parse_os(os_name), filename)


@pytest.mark.parametrize(("itype", "os_name", "filename"), REFUSE)
def test_table_refuses(itype: ImageType, os_name: str | None, filename: str) -> None:
    with pytest.raises(OsdepotError) as exc:
        check_extension(itype, parse_os(os_name), filename)
    assert exc.value.status == 412
    assert exc.value.message_id == "FQXHMFC9001J"


def test_table_covers_every_type() -> None:
    assert set(EXTENSIONS) == set(ImageType)
    assert EXTENSIONS[ImageType.OS].keys() == set(OsKind)


@pytest.mark.parametrize("raw", ["../../etc/passwd", "C:\\x\\..\\evil.iso", "/abs/a.iso"])
def test_filenames_lose_their_directories(raw: str) -> None:
    name = clean_filename(raw)
    assert "/" not in name and "\\" not in name


@pytest.mark.parametrize("raw", ["", "..", "a\x00b.iso", "x" * 300 + ".iso", "a\u202eb.iso"])
def test_bad_filenames(raw: str) -> None:
    with pytest.raises(OsdepotError):
        clean_filename(raw)


def test_file_ids() -> None:
    fid = make_file_id("a,b|c.iso", now=0)
    assert fid == "19700101000000_a_b_c.iso"
    assert make_file_id("a.iso", now=0, attempt=2) == "1970010100000002_a.iso"


@pytest.mark.parametrize("bad", ["", "../x", "a b", "a|b", "a,b", "-x", "x" * 200])
def test_image_ids(bad: str) -> None:
    assert check_image_id("rhels9.4") == "rhels9.4"
    with pytest.raises(OsdepotError):
        check_image_id(bad)


def test_roles() -> None:
    assert normalise_role("OS-ADMIN") == "lxc-os-admin"
    assert normalise_role("nobody") is None
    assert has_privilege("lxc-os-admin", Privilege.DELETE_FILES)
    assert not has_privilege("lxc-operator", Privilege.EDIT_FILES)


def test_job_transitions() -> None:
    assert can_transition(JobStatus.PENDING, JobStatus.RUNNING)
    assert not can_transition(JobStatus.STOPPED, JobStatus.RUNNING)
    assert can_transition(JobStatus.COMPLETE, JobStatus.RUNNING)  # BUNDLESIG


def test_decimal_reads_ascii_digits_only_and_not_too_many() -> None:
    from osdepot.domain.text import decimal

    assert decimal("0") == 0 and decimal("014") == 14 and decimal("9" * 18) == 10**18 - 1
    for text in ("", " 1", "1 ", "-1", "+1", "1.0", "²", "١٢", "1_000", "9" * 19, "9" * 5000):
        assert decimal(text) is None, text
    assert decimal("123", 2) is None and decimal("12", 2) == 12


def test_text_from_another_system_is_shown_printable() -> None:
    from osdepot.domain.text import shown

    assert shown("node-a \U0001f680 é", 255) == "node-a \U0001f680 é"
    assert shown("a\ud800b\udfff", 255) == "a\ufffdb\ufffd"  # halves of a pair
    assert shown("\ud83d\ude80", 255) == "\U0001f680"  # a whole pair as two code points
    assert shown("\x1b[2J\r\n\x00 C:\\x", 255) == "\\x1b[2J\\x0d\\x0a\\x00 C:\\x"
    assert shown("x" * 600, 500) == "x" * 500
    shown("a\ud800", 10).encode("utf-8")  # what a catalog stores


def test_a_bmc_failure_keeps_no_control_characters_or_surrogates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A BMC's refusal (a Redfish message, a slot's name) is quoted in a failure that
    becomes a job's message: made printable on its way out of the adapter."""
    import sushy

    from osdepot.bmc.redfish import RedfishReader
    from osdepot.errors import BmcFailure
    from osdepot.ports import BmcAccess

    monkeypatch.setattr(sushy, "Sushy", lambda *_a, **_k: object())  # no BMC asked
    access = BmcAccess(url="https://127.0.0.1:1", username="u", password="p", verify=False)
    with pytest.raises(BmcFailure) as caught, RedfishReader()._root(access):
        raise BmcFailure("power", "The BMC refused the power action: \ud800\x1b[2J")
    assert caught.value.kind == "power"
    assert caught.value.detail == "The BMC refused the power action: \ufffd\\x1b[2J"
