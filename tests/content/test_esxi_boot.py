"""The view of an ESXi medium a deployment serves: the same bytes but for its two
boot.cfg files, which name the kickstart, and the lengths that say how long they are —
read back with an independent ISO reader (pycdlib) through each of the medium's
directory trees."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from osdepot.content.esxi_boot import (
    KICKSTART_OPTION,
    MAX_BOOT_CFG,
    Patch,
    PatchedReader,
    boot_patches,
    with_option,
)
from osdepot.content.source import ContentError, Source
from osdepot.files import FileReader
from tests.media import esxi_files, iso_file, make_iso, medium


def _apply(data: bytes, patches: list[Patch]) -> bytes:
    out = bytearray(data)
    for p in patches:
        out[p.offset : p.offset + len(p.data)] = p.data
    return bytes(out)


def test_both_boot_cfgs_name_the_kickstart_in_every_tree(tmp_path: Path) -> None:
    iso = medium(tmp_path / "esxi.iso", "esxi")
    original = iso.read_bytes()
    with Source(FileReader(iso)) as src:
        patches = boot_patches(src)
    view = _apply(original, patches)
    files = esxi_files()
    for name, iso_path in (
        ("boot.cfg", "/BOOT_CFG.;1"),
        ("efi/boot/boot.cfg", "/EFI/BOOT/BOOT_CFG.;1"),
    ):
        want = files[name].replace(
            b"kernelopt=runweasel cdromBoot", b"kernelopt=runweasel cdromBoot ks=cdrom:/KS.CFG"
        )
        assert iso_file(view, iso_path=iso_path) == want
        assert iso_file(view, rr_path="/" + name) == want
        assert iso_file(view, joliet_path="/" + name) == want
        assert iso_file(original, rr_path="/" + name) == files[name]  # the ISO is untouched
    # every other file reads as before
    for name in ("b.b00", "jumpstrt.gz", "useropts.gz", "upgrade/metadata.xml"):
        assert iso_file(view, rr_path="/" + name) == files[name]
    # few bytes differ: two files' data, and a length field per record (two trees)
    assert len(patches) == 2 + 4
    changed = sum(a != b for a, b in zip(original, view, strict=True))
    assert 0 < changed < 200


def test_the_reader_lays_the_patches_over_any_range(tmp_path: Path) -> None:
    iso = medium(tmp_path / "esxi.iso", "esxi")
    original = iso.read_bytes()
    with Source(FileReader(iso)) as src:
        patches = boot_patches(src)
    view = _apply(original, patches)
    reader = PatchedReader(FileReader(iso), patches)
    try:
        assert reader.size == len(original)
        rng = random.Random(7)
        edges = [p.offset + d for p in patches for d in (-3, 0, 1, len(p.data) - 1, len(p.data))]
        for start in edges + [rng.randrange(len(original)) for _ in range(200)]:
            start = max(0, min(start, len(original) - 1))
            n = rng.choice([1, 5, 100, 4096, 70_000])
            assert reader.read_at(start, n) == view[start : start + n]
        # a range no patch touches keeps its file span (sendfile); a patched one does not
        first = patches[0]
        assert reader.span(0, 2048) is not None
        assert reader.span(first.offset - 10, 20) is None
    finally:
        reader.close()
    with pytest.raises(ValueError, match="outside the file"):
        PatchedReader(FileReader(iso), [Patch(len(original) - 2, b"abc")])


def test_the_option_replaces_a_ks_option_and_keeps_line_endings() -> None:
    assert with_option(b"kernel=/b.b00\r\nkernelopt=runweasel ks=usb:\r\n", KICKSTART_OPTION) == (
        b"kernel=/b.b00\r\nkernelopt=runweasel ks=cdrom:/KS.CFG\r\n"
    )
    assert with_option(b"title=x\nkernel=/b.b00\nmodules=/a\n", "ks=x") == (
        b"title=x\nkernel=/b.b00\nkernelopt=ks=x\nmodules=/a\n"
    )
    assert with_option(b"title=x\n", "ks=x") == b"title=x\nkernelopt=ks=x\n"


def test_media_that_cannot_be_changed_in_place_are_refused(tmp_path: Path) -> None:
    files = esxi_files()
    # a boot.cfg that fills its last sector to the byte: no room for the option
    full = files["boot.cfg"] + b"#" * (2048 - len(files["boot.cfg"]) - 1) + b"\n"
    assert len(full) == 2048
    tight = make_iso(tmp_path / "tight.iso", {**files, "boot.cfg": full})
    with Source(FileReader(tight)) as src, pytest.raises(ContentError, match="no room"):
        boot_patches(src)
    # a boot.cfg too large to be a loader's is not read whole (MAX_BOOT_CFG)
    huge = files["boot.cfg"] + b"#" * MAX_BOOT_CFG
    big = make_iso(tmp_path / "big.iso", {**files, "boot.cfg": huge})
    with Source(FileReader(big)) as src, pytest.raises(ContentError, match="not a boot loader"):
        boot_patches(src)
    udf = make_iso(tmp_path / "udf.iso", files, udf=True)
    with Source(FileReader(udf)) as src, pytest.raises(ContentError, match="UDF"):
        boot_patches(src)
    none = make_iso(tmp_path / "none.iso", {"b.b00": b"kernel"})
    with Source(FileReader(none)) as src, pytest.raises(ContentError, match=r"no boot\.cfg"):
        boot_patches(src)
