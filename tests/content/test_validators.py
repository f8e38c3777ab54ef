"""Content checks of every file kind: good files pass, each kind of bad file is
refused with a message that says what it is, and damaged input never crashes."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osdepot.content.inspect import inspect_path
from osdepot.domain.images import FAMILIES, ImageType
from osdepot.errors import ContentError
from tests.media import make_iso, medium_bytes
from tests.samples import (
    AUTOYAST,
    KICKSTART,
    UNATTEND,
    VALID,
    asc_bytes,
    rpm_bytes,
    tar_gz_bytes,
    zip_bytes,
)

RHEL, WIN = FAMILIES["rhel"], FAMILIES["windows"]


def check(tmp_path: Path, itype: str, name: str, data: bytes, family=RHEL):  # type: ignore[no-untyped-def]
    p = tmp_path / "f"
    p.write_bytes(data)
    return inspect_path(p, ImageType(itype), family, name, os.environ.get("OSDEPOT_OSINFO_PATH"))


def refused(result, *words: str) -> str:  # type: ignore[no-untyped-def]
    assert not result.valid, result.as_json()
    assert result.messages and result.messages[0]["id"].startswith("FQXHMFC90")
    text = str(result.messages[0]["text"]) + " " + str(result.messages[0]["explanation"])
    for w in words:
        assert w in text, text
    return text


@pytest.mark.parametrize("itype", sorted(VALID))
def test_valid_samples_pass(tmp_path: Path, itype: str) -> None:
    name, q, content = VALID[itype]
    fam = FAMILIES["windows"] if q.get("os") == "windows" else RHEL
    r = check(tmp_path, itype, name, content, fam)
    assert r.valid, r.as_json()
    assert r.messages == []


@pytest.mark.parametrize(
    ("itype", "name", "data", "words"),
    [
        ("OSPROFILE", "p.tar.gz", b"plain text", ["gzip", "is text"]),
        ("OSPROFILE", "p.tar.gz", tar_gz_bytes({"../evil": b"x"}), ["'..'"]),
        ("OSPROFILE", "p.tar.gz", tar_gz_bytes({"/etc/passwd": b"x"}), ["absolute"]),
        ("OSPROFILE", "p.tar.gz", tar_gz_bytes({}, {"l": "../../etc"}), ["outside"]),
        ("OSPROFILE", "p.tar.gz", tar_gz_bytes({}, {"l": "/etc/shadow"}), ["outside"]),
        ("OSPROFILE", "p.tar.gz", tar_gz_bytes({"a": os.urandom(5000)})[:2000], ["complete"]),
        ("SOFTWARE", "s.zip", b"PK\x03\x04 broken", ["central directory"]),
        ("SOFTWARE", "s.zip", zip_bytes({"../x.exe": b"MZ"}), ["'..'"]),
        ("SOFTWARE", "s.zip", zip_bytes({"big": b"\0" * (20 << 20)}), ["zip bomb", "200:1"]),
        ("DUD", "d.rpm", rpm_bytes("bash", ("bash",)), ["no kernel module", "bash"]),
        ("DUD", "d.rpm", b"\xed\xab\xee\xdb" + b"\0" * 92, ["RPM"]),
        ("DUD", "d.iso", medium_bytes("rhel"), ["rhdd3"]),
        ("CONFIG", "c.json", b"[1, 2]", ["list", "not an object"]),
        ("CONFIG", "c.json", b'{"a": ', ["does not parse"]),
        ("CONFIG", "c.json", b'{"a": NaN}', ["does not parse", "NaN is not a JSON value"]),
        ("CONFIG", "c.json", b'{"a": [-Infinity]}', ["-Infinity is not a JSON value"]),
        ("CONFIG", "c.json", b'{"a": "\\ud800"}', ["does not parse", "unpaired UTF-16 surrogate"]),
        ("UNATTEND", "a.xml", UNATTEND, ["<unattend>", "<profile>"]),
        ("UNATTEND", "a.xml", b"<profile><unclosed></profile>", ["well-formed"]),
        ("UNATTEND", "ks.ks", b"hello world\n", ["kickstart command"]),
        ("UNATTEND", "ks.ks", b"lang en\x00\n", ["NUL"]),
        ("SCRIPT", "a.py", b"#!/bin/bash\necho\n", ["bash", "python"]),
        ("SCRIPT", "a.sh", b"#!/usr/bin/env python3\nprint()\n", ["python3", ".sh"]),
        ("SCRIPT", "a.sh", "echo caf\u00e9\n".encode("latin-1"), ["not text in utf-8"]),
        ("BUNDLESIG", "b.zip.asc", b"-----BEGIN PGP SIGNATURE-----\n", ["BEGIN PGP"]),
        ("BUNDLE", "b.zip", b"", ["empty"]),
    ],
)
def test_bad_content_is_refused(
    tmp_path: Path, itype: str, name: str, data: bytes, words: list[str]
) -> None:
    text = refused(check(tmp_path, itype, name, data), *words)
    assert "Nothing was stored" in text


def test_billion_laughs_and_external_entities_are_refused(tmp_path: Path) -> None:
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><profile>&lol2;</profile>'
    )
    refused(check(tmp_path, "UNATTEND", "a.xml", laughs), "DTD")
    xxe = b'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]><p>&x;</p>'
    refused(check(tmp_path, "UNATTEND", "a.xml", xxe), "DTD")


def test_xml_flavours(tmp_path: Path) -> None:
    assert check(tmp_path, "UNATTEND", "a.xml", AUTOYAST).valid
    assert check(tmp_path, "UNATTEND", "a.xml", UNATTEND, WIN).valid
    refused(check(tmp_path, "UNATTEND", "a.xml", AUTOYAST, WIN), "<profile>", "<unattend>")


def test_scripts_and_encodings(tmp_path: Path) -> None:
    latin = "# -*- coding: latin-1 -*-\nprint('caf\u00e9')\n".encode("latin-1")
    assert check(tmp_path, "SCRIPT", "a.py", latin).valid
    ps1 = "\ufeffWrite-Host 'hi'\r\n".encode("utf-16-le")
    assert check(tmp_path, "SCRIPT", "a.ps1", b"\xff\xfe" + ps1[2:], WIN).valid
    assert check(tmp_path, "SCRIPT", "a.pl", b"#!/usr/bin/perl -w\nprint 1;\n").valid
    assert check(tmp_path, "SCRIPT", "a.cmd", b"@echo off\r\n", WIN).valid
    refused(check(tmp_path, "SCRIPT", "a.cmd", b"#!/bin/sh\n", WIN), "sh")
    assert check(tmp_path, "UNATTEND", "ks.ks", KICKSTART).valid


def test_pgp_armor_checksum(tmp_path: Path) -> None:
    good = asc_bytes()
    assert check(tmp_path, "BUNDLESIG", "b.asc", good, WIN).valid
    lines = good.decode().splitlines()
    crc_line = next(i for i, line in enumerate(lines) if line.startswith("="))
    lines[crc_line] = "=AAAA"
    refused(check(tmp_path, "BUNDLESIG", "b.asc", "\n".join(lines).encode(), WIN), "CRC-24")


def test_windows_driver_zip_needs_inf_files(tmp_path: Path) -> None:
    assert check(tmp_path, "DUD", "d.zip", zip_bytes({"x/net.inf": b"[Version]"}), WIN).valid
    refused(check(tmp_path, "DUD", "d.zip", zip_bytes({"x/readme": b"."}), WIN), ".inf")
    refused(check(tmp_path, "BOOT", "pe.zip", zip_bytes({"a": b"b"}), WIN), "Windows PE")


def test_linux_dud_iso_needs_the_rhdd3_marker(tmp_path: Path) -> None:
    dud = make_iso(
        tmp_path / "dd.iso",
        {"rhdd3": b"Driver Update Disk version 3", "x86_64/rpms/x86_64/kmod-x.rpm": rpm_bytes()},
        bootable=False,
        volume_id="OEMDRV",
    )
    r = check(tmp_path, "DUD", "dd.iso", dud.read_bytes())
    assert r.valid and r.details["label"] == "Driver Update Disk version 3"


def test_overlapping_zip_members_are_refused(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("a", b"x" * 100)
        zf.writestr("b", b"y" * 100)
    data = bytearray(buf.getvalue())
    cd = data.rfind(b"PK\x01\x02")  # the second central entry: point it at the first
    data[cd + 42 : cd + 46] = (0).to_bytes(4, "little")
    refused(check(tmp_path, "SOFTWARE", "s.zip", bytes(data), WIN), "overlaps")


def test_device_files_in_tar_are_refused(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        ti = tarfile.TarInfo("dev/sda")
        ti.type = tarfile.BLKTYPE
        tf.addfile(ti)
    refused(check(tmp_path, "OSPROFILE", "p.tar.gz", buf.getvalue()), "device")


def test_a_tar_gz_is_read_in_large_pieces_and_whole() -> None:
    """gzip asks for 8 KiB at a time; on a store where every read is a request (S3)
    the check reads ahead 1 MiB, and still reads every byte of the file."""
    import random

    from osdepot.content.source import Source
    from osdepot.content.validators.archives import check_tar_gz

    data = tar_gz_bytes({"p/data.bin": random.Random(5).randbytes(5 << 20)})

    class Counted:
        size = len(data)
        reads: list[int] = []

        def read_at(self, offset: int, n: int) -> bytes:
            self.reads.append(n)
            return data[offset : offset + n]

        def close(self) -> None:
            pass

    store = Counted()
    with Source(store) as src:
        found = check_tar_gz(src)
    assert found.details["bytes"] == 5 << 20
    assert len(store.reads) <= len(data) // (1 << 20) + 3, len(store.reads)
    # a truncated archive is still refused through the read-ahead
    cut = Counted()
    cut.size, cut.reads = len(data) - 1000, []
    with Source(cut) as src, pytest.raises(ContentError, match="not a complete"):
        check_tar_gz(src)


# -- property-based: damaged input is refused with a message, never a crash ----------

_fuzz = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
_MEDIUM = medium_bytes("rhel")
_WINDOWS = medium_bytes("windows")


def _damage(data: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    out = bytearray(data)
    for pos, byte in edits:
        out[pos % len(out)] = byte
    return bytes(out[:cut] if cut else out)


@_fuzz
@given(
    st.lists(st.tuples(st.integers(16 * 2048, 60 * 2048), st.integers(0, 255)), max_size=40),
    st.one_of(st.none(), st.integers(0, len(_MEDIUM))),
    st.booleans(),
)
def test_damaged_media_never_crash(
    tmp_path: Path, edits: list[tuple[int, int]], cut: int | None, windows: bool
) -> None:
    base = _WINDOWS if windows else _MEDIUM
    r = check(tmp_path, "OS", "m.iso", _damage(base, edits, cut), None)
    assert r.valid or r.messages, r.as_json()


_ARCHIVES = {
    "OSPROFILE": ("p.tar.gz", tar_gz_bytes({f"d/f{i}": b"data" * i for i in range(20)})),
    "SOFTWARE": ("s.zip", zip_bytes({f"d/f{i}": b"data" * i for i in range(20)})),
    "DUD": ("d.rpm", rpm_bytes()),
    "UNATTEND": ("a.xml", AUTOYAST),
    "CONFIG": ("c.json", b'{"a": [1, 2, {"b": null}]}'),
    "BUNDLESIG": ("b.asc", asc_bytes()),
}


@_fuzz
@given(
    st.sampled_from(sorted(_ARCHIVES)),
    st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=20),
    st.one_of(st.none(), st.integers(0, 4000)),
)
def test_damaged_files_never_crash(
    tmp_path: Path, itype: str, edits: list[tuple[int, int]], cut: int | None
) -> None:
    name, data = _ARCHIVES[itype]
    fam = WIN if itype in ("SOFTWARE", "BUNDLESIG") else RHEL
    r = check(tmp_path, itype, name, _damage(data, edits, cut), fam)
    assert r.valid or r.messages, r.as_json()


def test_a_zip_that_needs_a_newer_zip_version_is_refused(tmp_path: Path) -> None:
    # Found by the damage test above: "version needed to extract" 6.4 in the central
    # directory made Python's zipfile raise NotImplementedError (an internal error).
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("drivers/net.inf", b"[Version]\r\n")
    data = bytearray(buf.getvalue())
    at = data.index(b"PK\x01\x02")
    data[at + 6 : at + 8] = (64).to_bytes(2, "little")
    refused(check(tmp_path, "DUD", "d.zip", bytes(data), WIN), "zip")


def test_truncated_image_is_refused(tmp_path: Path) -> None:
    data = _MEDIUM[: len(_MEDIUM) - 4096]
    refused(check(tmp_path, "OS", "m.iso", data, None), "truncated")


def test_a_zip_with_a_large_central_directory_is_read_whole(tmp_path: Path) -> None:
    """More than 16 MiB of central directory (40,000 entries with long paths) is still
    a valid zip."""
    deep = ("d" * 60 + "/") * 6
    names = [f"drivers/{i:06d}/{deep}x.inf" for i in range(40_000)]
    assert sum(46 + len(n) for n in names) > 16 << 20  # the central directory's size
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name in names:
            zf.writestr(name, b"")
    data = buf.getvalue()
    r = check(tmp_path, "DUD", "d.zip", data, WIN)
    assert r.valid, r.as_json()
    assert r.details["members"] == 40_000
