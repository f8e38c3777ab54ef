"""Recognition against real data nobody here wrote (../shared/corpus).

* osinfo-isodata: the ISO 9660 headers of 2,703 published media. Each becomes a small
  bootable ISO whose primary volume descriptor carries the sample's fields (the
  volume size written into the descriptor of a sparse file), and osdepot must
  recognise it as the release its folder names, with osinfo-db's own semantics.
* treeinfo: real .treeinfo files, parsed into product, version, arch and variants.
* Debian's ipxe and grub-rescue-pc ISOs: bootable, but not installation media.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import pytest

from osdepot.content import osinfo
from osdepot.content.inspect import inspect_path
from osdepot.content.media import parse_treeinfo
from osdepot.domain.images import ImageType
from tests.media import make_iso, patch_header
from tests.shared import missing, shared

ISODATA = ("corpus", "osinfo-isodata")
LABELS = {
    "System id": "system_id",
    "Volume id": "volume_id",
    "Publisher id": "publisher_id",
    "Application id": "application_id",
}

#: Samples whose folder and content disagree in the corpus itself: the files under
#: alpinelinux3.18 named alpine-*-3.17.0-* carry 3.17.0 volume ids, which osinfo-db
#: (rightly) gives to alpinelinux3.17.
CORPUS_MISFILED = {"alpinelinux/alpinelinux3.18": ("-3.17.0-", "alpinelinux3.17")}

_SERVER_WINDOWS = {"win2k16", "win2k19", "win2k22", "win2k25"}
_NEVER_DEPLOYABLE = {"alpinelinux", "freebsd", "fedora", "debian", "opensuse", "sled", "slem"}


def read_sample(path: Path) -> dict[str, object]:
    """The header fields of an ``isoinfo -d`` dump (labels found anywhere)."""
    fields: dict[str, object] = {k: "" for k in LABELS.values()}
    block = blocks = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        label, sep, value = line.partition(": ")
        if not sep:
            label, sep, value = line.partition(":")
        label = label.strip()
        if label in LABELS:
            fields[LABELS[label]] = value.rstrip()
        elif line.startswith("Logical block size is:"):
            block = int(line.split(":")[1])
        elif line.startswith("Volume size is:"):
            blocks = int(line.split(":")[1])
    fields["volume_size"] = block * blocks
    return fields


def expected_deployable(family_dir: str, short_id: str, volume_id: str) -> bool:
    if family_dir in _NEVER_DEPLOYABLE:
        return False
    if family_dir == "win":
        return short_id in _SERVER_WINDOWS
    if family_dir == "ubuntu":
        return "server" in volume_id.lower()
    if family_dir == "rhel":
        return not short_id.startswith("rhel-atomic")
    return True


def _samples() -> dict[str, list[dict[str, str]]]:
    index = shared(*ISODATA, "INDEX.tsv")
    by_family: dict[str, list[dict[str, str]]] = defaultdict(list)
    with open(index, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            by_family[row["family_dir"]].append(row)
    return by_family


def _aliases() -> dict[str, set[str]]:
    """sample path → other short ids that osinfo-db also (knowingly) gives it."""
    out: dict[str, set[str]] = defaultdict(set)
    with open(shared(*ISODATA, "ALIASES.tsv"), newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            out[row["same_medium_as"]].add(row["also_matched_by_path"].split("/")[1])
    return out


FAMILIES = [
    "almalinux", "alpinelinux", "centos", "debian", "fedora", "freebsd", "ol", "opensuse",
    "rhel", "rocky", "sle", "sled", "slem", "sles", "ubuntu", "win",
]  # fmt: skip


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A small bootable ISO (El Torito, Joliet, Rock Ridge) with nothing else on it."""
    p = make_iso(tmp_path_factory.mktemp("tpl") / "t.iso", {"readme.txt": b"corpus sample"})
    return p.read_bytes()


@pytest.mark.parametrize("family", FAMILIES)
def test_every_header_sample_is_recognised(
    family: str, template: bytes, tmp_path: Path, osinfo_db: Path
) -> None:
    samples = _samples()[family]
    aliases = _aliases()
    assert samples, f"no samples for {family}"
    failures = []
    checked = 0
    iso = tmp_path / "sample.iso"
    for row in samples:
        fields = read_sample(shared(*ISODATA, row["path"]))
        expected = row["expected_short_id"]
        folder = "/".join(row["path"].split("/")[:2])
        if folder in CORPUS_MISFILED and CORPUS_MISFILED[folder][0] in row["path"]:
            expected = CORPUS_MISFILED[folder][1]
        allowed = {expected} | aliases.get(row["path"], set())
        iso.write_bytes(template)
        volume_size = int(str(fields.pop("volume_size")))
        patch_header(iso, volume_size=volume_size, **{k: str(v) for k, v in fields.items()})
        result = inspect_path(iso, ImageType.OS, None, Path(row["path"]).stem, str(osinfo_db))
        got = result.os.osinfo_id if result.os else None
        want_deploy = expected_deployable(family, expected, str(fields["volume_id"]))
        problems = []
        if got not in allowed:
            problems.append(f"recognised as {got}, expected {sorted(allowed)}")
        if result.valid != want_deploy:
            problems.append(f"valid={result.valid}, expected {want_deploy}")
        if not want_deploy:
            text = result.messages[0]["text"] if result.messages else ""
            if "not a deployable server OS" not in text:
                problems.append(f"refusal does not say why: {text!r}")
        elif result.os is None or not result.os.image_id:
            problems.append("no image id for a deployable medium")
        assert result.bytes_read < 64 * 1024, "recognition read more than the descriptors"
        if problems:
            failures.append(f"{row['path']}: {'; '.join(problems)}")
        checked += 1
    assert checked == len(samples)
    assert not failures, f"{len(failures)} of {checked} samples:\n" + "\n".join(failures[:20])


def test_the_corpus_is_complete(osinfo_db: Path) -> None:
    """Guards the test above against an empty or partial corpus and database."""
    samples = _samples()
    assert sum(len(v) for v in samples.values()) == 2703
    assert set(samples) == set(FAMILIES)
    db = osinfo.load(str(osinfo_db))
    assert db.version == "20260517" and len(db.rules) > 2500


# -- .treeinfo -------------------------------------------------------------------------

TREEINFO = {  # path under corpus/treeinfo → (family, version, arch, variants), as the files say
    "osinfo-db/rhel/rhel10.0/x86_64/.treeinfo": ("rhel", "10.0", "x86_64", ["BaseOS"]),
    "osinfo-db/rhel/rhel9.4/x86_64/.treeinfo": ("rhel", "9.4", "x86_64", ["BaseOS"]),
    "osinfo-db/rhel/rhel7.6/server/x86_64/.treeinfo": ("rhel", "7.6", "x86_64", ["Server"]),
    "osinfo-db/rhel/rhel9.2/baseos/x86_64/.treeinfo": ("rhel", "9.2", "x86_64", ["BaseOS"]),
    "osinfo-db/rhel/rhel9.5/aarch64/.treeinfo": (
        "rhel", "9.5", "aarch64", ["AppStream", "BaseOS"],
    ),
    "osinfo-db/rhel/rhel9.5/x86_64/.treeinfo": ("rhel", "9.5", "x86_64", ["AppStream", "BaseOS"]),
    "osinfo-db/rhel/rhel8.10/x86_64/.treeinfo": ("rhel", "8.10", "x86_64", ["BaseOS"]),
    "osinfo-db/rocky/rocky9/x86_64/.treeinfo": ("rocky", "9.0", "x86_64", ["AppStream", "BaseOS"]),
    "osinfo-db/sle/sle15sp4/x86_64/.treeinfo": ("sles", "15 SP4", "x86_64", []),
    "osinfo-db/opensuse/opensuse15.5/x86_64/.treeinfo": ("opensuse", "15.5", "x86_64", []),
    "osinfo-db/ol/ol9.3/x86_64/.treeinfo": ("oracle", "9.3.0", "x86_64", ["AppStream", "BaseOS"]),
    "osinfo-db/centos/centos-stream9/x86_64/.treeinfo": (
        "centos", "9", "x86_64", ["BaseOS", "AppStream"],
    ),
    "osinfo-db/almalinux/almalinux9/x86_64/.treeinfo": (
        "alma", "9", "x86_64", ["AppStream", "BaseOS"],
    ),
    "productmd/RHEL-8-BETA.s390x": ("rhel", "8.0", "s390x", ["AppStream", "BaseOS"]),
    "productmd/RHEL-8-BETA.aarch64": ("rhel", "8.0", "aarch64", ["AppStream", "BaseOS"]),
    "productmd/RHEL-8-BETA.ppc64le": ("rhel", "8.0", "ppc64le", ["AppStream", "BaseOS"]),
    "productmd/RHEL-8-BETA.x86_64": ("rhel", "8.0", "x86_64", ["AppStream", "BaseOS"]),
    "productmd/RHEL-7-Server-optional.x86_64": ("rhel", "7.0", "x86_64", ["Server-optional"]),
    "productmd/opensuse": ("opensuse", "15.1", "x86_64", []),
    "productmd/fedora-21-Server.x86_64": ("fedora", "21", "x86_64", ["Server"]),
}  # fmt: skip


@pytest.mark.parametrize("rel", sorted(TREEINFO))
def test_real_treeinfo_files(rel: str) -> None:
    family, version, arch, variants = TREEINFO[rel]
    ti = parse_treeinfo(shared("corpus", "treeinfo", rel).read_text())
    assert (ti.family, ti.version, ti.arch, ti.variants) == (family, version, arch, variants)


def test_every_treeinfo_in_the_corpus_is_covered() -> None:
    root = shared("corpus", "treeinfo")
    found = {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file()
        and p.name not in ("README.md", "LICENSE", "COPYING")
        and "discinfo" not in p.parts
    }
    assert found == set(TREEINFO)


def test_real_discinfo() -> None:
    text = shared("corpus", "treeinfo", "productmd", "discinfo", "fedora-21-Server.x86_64")
    lines = text.read_text().splitlines()
    assert lines[2] == "x86_64" and "Fedora" in lines[1]


# -- real ISOs that are not installation media -----------------------------------------

DEBIAN_ISOS = {
    "ipxe": "/usr/lib/ipxe/ipxe.iso",
    "grub-rescue-pc": "/usr/lib/grub-rescue/grub-rescue-cdrom.iso",
}


@pytest.mark.parametrize("package", sorted(DEBIAN_ISOS))
def test_debian_boot_isos_are_not_installation_media(package: str, osinfo_db: Path) -> None:
    path = Path(DEBIAN_ISOS[package])
    if not path.is_file():
        missing(f"{path} (Debian package {package})")
    result = inspect_path(path, ImageType.OS, None, path.name, str(osinfo_db))
    assert not result.valid
    assert result.messages[0]["id"] == "FQXHMFC9023J"
    assert "not an installation medium" in result.messages[0]["text"]
    assert result.details["bootable"] is True
    assert result.bytes_read < 0.02 * result.size
