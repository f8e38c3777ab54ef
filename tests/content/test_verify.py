"""Media checked against their own metadata (content/media/verify.py): every checksum a
medium declares, the files its installer needs, and the bound on the work."""

from __future__ import annotations

import configparser
import hashlib
from pathlib import Path

import pytest

from osdepot.content.inspect import verify_content
from osdepot.files import FileReader
from tests.media import (
    esxi_files,
    make_iso,
    medium,
    repomd,
    rhel_like_files,
    sles_files,
    ubuntu_files,
)
from tests.shared import SHARED

TREEINFO = SHARED / "corpus" / "treeinfo"
RHEL_VID = "RHEL-9-4-0-BaseOS-x86_64"


def verify(path: Path) -> tuple[dict[str, object], str]:
    checked, failure = verify_content(FileReader(path), path.name)
    if failure is None:
        return checked, ""
    m = failure.render()
    assert m["id"] == "FQXHMFC9039J" and failure.status == 400
    return checked, f"{m['text']} {m['explanation']}"


@pytest.mark.parametrize("kind", ["rhel", "rocky", "sles", "ubuntu", "esxi", "windows"])
def test_sound_media_pass(tmp_path: Path, kind: str) -> None:
    checked, refusal = verify(medium(tmp_path / "m.iso", kind))
    assert refusal == ""
    if kind in ("rhel", "rocky"):
        assert checked["sources"] == [
            ".treeinfo",
            "AppStream/repodata/repomd.xml",
            "BaseOS/repodata/repomd.xml",
        ]
        # vmlinuz, initrd, install.img, two repodata files (boot.iso is not on DVDs)
        assert checked["files"] == 5
    expected = {"sles": [".treeinfo", "CHECKSUMS"], "ubuntu": ["md5sum.txt"], "esxi": ["boot.cfg"]}
    if kind in expected:
        assert checked["sources"] == expected[kind]
        assert int(str(checked["files"])) >= 2


def test_a_kernel_that_does_not_match_treeinfo_is_named(tmp_path: Path) -> None:
    files = rhel_like_files()
    files["images/pxeboot/vmlinuz"] = b"kernal"  # one byte off
    _checked, refusal = verify(make_iso(tmp_path / "m.iso", files, volume_id=RHEL_VID))
    assert "images/pxeboot/vmlinuz: SHA-256 does not match the medium's .treeinfo" in refusal
    assert "the ISO is damaged" in refusal and "Nothing was stored" in refusal


def test_a_missing_stage2_is_named(tmp_path: Path) -> None:
    files = rhel_like_files()
    del files["images/install.img"]
    _checked, refusal = verify(make_iso(tmp_path / "m.iso", files, volume_id=RHEL_VID))
    assert "images/install.img: the medium's .treeinfo names it, but it is not on" in refusal


def test_repodata_must_point_at_files_on_the_medium(tmp_path: Path) -> None:
    files = rhel_like_files()
    files["BaseOS/repodata/repomd.xml"] = repomd(
        {"primary": "repodata/primary.xml.gz", "filelists": "repodata/gone-filelists.xml.gz"},
        b"\x1f\x8b primary metadata",
    )
    _checked, refusal = verify(make_iso(tmp_path / "m.iso", files, volume_id=RHEL_VID))
    assert "BaseOS/repodata/gone-filelists.xml.gz" in refusal
    files = rhel_like_files()
    files["AppStream/repodata/primary.xml.gz"] = b"\x1f\x8b other bytes"
    _checked, refusal = verify(make_iso(tmp_path / "n.iso", files, volume_id=RHEL_VID))
    assert "AppStream/repodata/primary.xml.gz: SHA-256 does not match" in refusal
    assert "AppStream/repodata/repomd.xml" in refusal
    files = rhel_like_files()
    del files["AppStream/repodata/repomd.xml"]
    _checked, refusal = verify(make_iso(tmp_path / "o.iso", files, volume_id=RHEL_VID))
    assert "names the repository AppStream, which has no repodata" in refusal


def test_suse_ubuntu_and_esxi_lists(tmp_path: Path) -> None:
    files = sles_files()
    files["boot/x86_64/loader/initrd"] = b"initrd, damaged"
    _c, refusal = verify(make_iso(tmp_path / "s.iso", files, volume_id="SLE-15-SP5-Full-x86_64"))
    assert "boot/x86_64/loader/initrd: SHA-256 does not match the medium's CHECKSUMS" in refusal
    files = ubuntu_files()
    files["casper/vmlinuz"] = b"kernel, damaged"
    _c, refusal = verify(make_iso(tmp_path / "u.iso", files, volume_id="Ubuntu-Server 22.04.3"))
    assert "casper/vmlinuz: MD5 does not match the medium's md5sum.txt" in refusal
    files = esxi_files()
    del files["useropts.gz"]
    _c, refusal = verify(make_iso(tmp_path / "e.iso", files, volume_id="ESXI-8.0U2-22380479"))
    assert "useropts.gz: the medium's boot.cfg names it" in refusal


def test_metadata_that_contradicts_itself_or_is_malformed(tmp_path: Path) -> None:
    files = sles_files()
    kernel = files["boot/x86_64/loader/linux"]
    files["SHA256SUMS"] = f"{'1' * 64}  boot/x86_64/loader/linux\n".encode()
    _c, refusal = verify(make_iso(tmp_path / "s.iso", files, volume_id="SLE-15-SP5-Full-x86_64"))
    assert "contradicts itself" in refusal
    files = rhel_like_files()
    text = files[".treeinfo"].decode().replace(hashlib.sha256(b"kernel").hexdigest(), "not-hex")
    files[".treeinfo"] = text.encode()
    _c, refusal = verify(make_iso(tmp_path / "r.iso", files, volume_id=RHEL_VID))
    assert "malformed SHA256 value" in refusal
    files = sles_files()
    files["CHECKSUMS"] = f"{hashlib.sha256(kernel).hexdigest()}  ../../etc/passwd\n".encode()
    _c, refusal = verify(make_iso(tmp_path / "t.iso", files, volume_id="SLE-15-SP5-Full-x86_64"))
    assert "not a path on the medium" in refusal


def test_a_listed_file_not_found_is_counted_not_refused(tmp_path: Path) -> None:
    files = ubuntu_files()
    files["md5sum.txt"] += f"{hashlib.md5(b'x').hexdigest()}  ./pool/main/gone.deb\n".encode()
    checked, refusal = verify(make_iso(tmp_path / "u.iso", files, volume_id="Ubuntu-Server"))
    assert refusal == "" and checked["listedNotFound"] == 1


def corpus_treeinfos() -> list[Path]:
    return sorted(p for p in TREEINFO.rglob("*") if p.is_file() and _has_checksums(p))


def _has_checksums(path: Path) -> bool:
    if path.suffix in (".md", "") and path.name in ("README.md", "LICENSE", "COPYING"):
        return False
    try:
        cp = configparser.RawConfigParser(strict=False, interpolation=None)
        cp.read_string(path.read_text(errors="replace"))
    except (configparser.Error, UnicodeDecodeError):
        return False
    return cp.has_section("checksums")


@pytest.mark.parametrize("treeinfo", corpus_treeinfos(), ids=lambda p: str(p.relative_to(TREEINFO)))
def test_real_treeinfo_checksums_are_read_and_checked(tmp_path: Path, treeinfo: Path) -> None:
    # Real .treeinfo files (productmd's and osinfo-db's test data) with every file they
    # checksum present but holding other bytes: each one's [checksums] is parsed, and
    # the first file in path order is named as not matching.
    cp = configparser.RawConfigParser(strict=False, interpolation=None)
    cp.read_string(treeinfo.read_text())
    listed = sorted(p for p, v in cp.items("checksums") if v.startswith("sha256:"))
    assert listed, "a [checksums] section without SHA-256 values"
    files = {".treeinfo": treeinfo.read_bytes()}
    for section in cp.sections():
        if section.startswith("images-") or section == "stage2":
            for _key, path in cp.items(section):
                if path.strip() != "images/boot.iso":  # not on DVDs built from the tree
                    files[path.strip()] = b"boot file"
    for path in listed:
        if path.endswith("repomd.xml"):
            files[path] = repomd({}, b"")  # well-formed, but not the real one
        elif path != "images/boot.iso":
            files[path] = b"not the real " + path.encode()
    for section in cp.sections():
        if section.startswith("variant-") and cp.has_option(section, "repository"):
            repo = cp.get(section, "repository").strip().strip("/")
            if repo and repo != "." and ".." not in repo:
                files[f"{repo}/repodata/repomd.xml"] = repomd({}, b"")
    _c, refusal = verify(make_iso(tmp_path / "m.iso", files, volume_id="TREE"))
    first = next(p for p in listed if p != "images/boot.iso")
    assert f"{first}: SHA-256 does not match the medium's .treeinfo" in refusal, refusal


def test_crafted_metadata_lines_cost_no_more_than_their_length(tmp_path: Path) -> None:
    """Python's regular expressions and configparser hold the GIL while they work, and
    some took the square of a crafted line's length: one upload froze every request
    of the server (before: a 40,000-space checksum line 8 s, a 16,000-character
    .treeinfo line 2.8 s, growing fourfold with each doubling — minutes to hours at
    the sizes below). Each medium here is read in well under a second now."""
    import time

    from osdepot.content.inspect import inspect_path
    from osdepot.domain.images import ImageType

    spaces = " " * 300_000
    started = time.thread_time()
    # A checksum list line with a long run of spaces before its last character.
    files = ubuntu_files()
    files["md5sum.txt"] += f"{'a' * 32}  ./x{spaces}y\n".encode()
    checked, refusal = verify(make_iso(tmp_path / "u.iso", files, volume_id="Ubuntu-Server"))
    assert refusal == "" and checked["listedNotFound"] == 1
    # A .treeinfo line that is no option: refused with what is wrong, by both readers.
    files = rhel_like_files()
    files[".treeinfo"] += f"a{spaces}b\n".encode()
    iso = make_iso(tmp_path / "r.iso", files, volume_id=RHEL_VID)
    result = inspect_path(iso, ImageType.OS, None, "r.iso", None)
    why = result.messages[0]["explanation"]  # (recognition reads the first 256 KiB)
    assert not result.valid and "has a line of" in why and "at most 4096" in why, why
    _c, refusal = verify(iso)
    assert "a line of 300002 characters" in refusal
    # An ESXi boot.cfg whose first build= line is a long run of digits: the medium is
    # still recognised from its other files.
    files = esxi_files()
    files["boot.cfg"] = b"build=8.0.2-" + b"1" * 200_000 + b"x\n" + files["boot.cfg"]
    result = inspect_path(
        make_iso(tmp_path / "e.iso", files, volume_id="ESXI-8.0U2-22380479-STANDARD"),
        ImageType.OS, None, "e.iso", None,
    )  # fmt: skip
    assert (
        result.valid and result.os is not None and (result.os.image_id or "").startswith("esxi8.0")
    )
    # A .discinfo product and an old SUSE LABEL of 60,000 digits.
    files = rhel_like_files()
    del files[".treeinfo"]
    files[".discinfo"] = b"1700000000.0\nRed Hat Enterprise Linux " + b"1" * 4000 + b"x\nx86_64\n"
    inspect_path(make_iso(tmp_path / "d.iso", files, volume_id=RHEL_VID),
                 ImageType.OS, None, "d.iso", None)  # fmt: skip
    legacy = {"content": b"LABEL SLES " + b"1" * 60_000 + b"\nVERSION 12\n", "boot/x": b"x"}
    inspect_path(make_iso(tmp_path / "s.iso", legacy, volume_id="SLES"),
                 ImageType.OS, None, "s.iso", None)  # fmt: skip
    # A script whose interpreter line ends in a long run of digits.
    for name, first in (("a.py", "#!/usr/bin/python"), ("b.sh", "#!/bin/sh")):
        script = tmp_path / name
        script.write_bytes((first + "1" * 300_000 + "x\nprint()\n").encode())
        result = inspect_path(script, ImageType.SCRIPT, None, name, None)
        why = result.messages[0]["explanation"]
        assert not result.valid and "…, but a" in why and len(why) < 500, why
    took = time.thread_time() - started
    assert took < 20, f"{took:.1f} CPU-s"
