"""What recognition produces (:class:`MediaInfo`), what it reads (:class:`Medium`), and
the tables and helpers every recogniser shares."""

from __future__ import annotations

import configparser
import re
from dataclasses import dataclass, field
from typing import Any

from osdepot.content.iso9660 import IsoImage
from osdepot.content.source import ContentError, FileData
from osdepot.content.udf import UdfVolume
from osdepot.domain.images import FAMILIES

#: osinfo-db distro → family (anything else is recognised but not deployable)
_DISTRO_FAMILY = {
    "rhel": "rhel",
    "centos": "centos",
    "rocky": "rocky",
    "almalinux": "alma",
    "ol": "oracle",
    "oel": "oracle",
    "sles": "sles",
    "sle": "sles",
    "ubuntu": "ubuntu",
    "win": "windows",
}

WINDOWS_BUILDS = {14393: "2016", 17763: "2019", 20348: "2022", 26100: "2025"}
_WIN_SHORT = {"win2k16": "2016", "win2k19": "2019", "win2k22": "2022", "win2k25": "2025"}

_ARCH = {
    "amd64": "x86_64",
    "x86_64": "x86_64",
    "x64": "x86_64",
    "arm64": "aarch64",
    "aarch64": "aarch64",
    "ppc64le": "ppc64le",
    "ppc64el": "ppc64le",
    "s390x": "s390x",
    "i386": "x86",
    "i586": "x86",
    "i686": "x86",
    "x86": "x86",
}


def norm_arch(value: str | None) -> str | None:
    if not value:
        return None
    return _ARCH.get(value.strip().lower(), value.strip().lower())


@dataclass
class MediaInfo:
    family: str
    name: str
    version: str
    arch: str | None
    deployable: bool
    source: str  # "files" or "header"
    image_id: str | None = None
    osinfo_id: str | None = None
    build: str | None = None
    profiles: list[str] = field(default_factory=list)
    variants: list[str] = field(default_factory=list)
    editions: list[dict[str, Any]] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    reason: str | None = None  # why it is not deployable
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "name": self.name,
            "version": self.version,
            "arch": self.arch,
            "imageId": self.image_id,
            "osinfoId": self.osinfo_id,
            "deployable": self.deployable,
            "profiles": list(self.profiles),
            "build": self.build,
            "variants": list(self.variants),
            "editions": list(self.editions),
            "recognisedBy": self.source,
            "evidence": list(self.evidence),
            "notes": list(self.notes),
        }


class Medium:
    """Lookups that try the UDF tree first (Windows media) and then ISO 9660."""

    def __init__(self, iso: IsoImage) -> None:
        self.iso = iso
        self.udf: UdfVolume | None = None
        if iso.udf:
            self.udf = UdfVolume(iso.src)

    def open(self, path: str) -> FileData | None:
        if self.udf is not None:
            f = self.udf.open(path)
            if f is not None:
                return f
        if self.iso.header is not None:
            return self.iso.open(path)
        return None

    def exists(self, path: str) -> bool:
        if self.udf is not None and self.udf.lookup(path) is not None:
            return True
        return self.iso.header is not None and self.iso.lookup(path) is not None

    def listdir(self, path: str) -> list[str]:
        names: list[str] = []
        if self.udf is not None:
            names += [e.name for e in self.udf.listdir(path)]
        if self.iso.header is not None:
            names += [e.name for e in self.iso.listdir(path)]
        return names

    def text(self, path: str, limit: int = 256 << 10) -> str | None:
        f = self.open(path)
        return f.text(limit) if f is not None else None


#: The longest line of installer metadata read as INI (.treeinfo): real ones are under
#: 200 characters (the corpus of real .treeinfo files: 100 at most). configparser, like
#: several of Python's regular expressions, takes the square of a line's length on some
#: crafted lines and holds the GIL meanwhile: a .treeinfo line of 256 KiB froze the whole
#: server for about twelve minutes.
MAX_LINE = 4096
#: The longest label a version is looked for in (.discinfo's product, a SUSE LABEL).
MAX_LABEL = 256


def check_lines(text: str, what: str, limit: int = MAX_LINE) -> None:
    """Refuse ``text`` (the medium's ``what``) when a line is longer than ``limit``."""
    start, size = 0, len(text)
    while start < size:
        end = text.find("\n", start)
        end = size if end < 0 else end
        if end - start > limit:
            raise ContentError(
                f"its {what} has a line of {end - start} characters; installer metadata "
                f"has lines of at most {limit}",
                found="a damaged installation tree",
            )
        start = end + 1


def _ini(text: str) -> configparser.RawConfigParser:
    check_lines(text, ".treeinfo")
    cp = configparser.RawConfigParser(strict=False, interpolation=None)
    try:
        cp.read_string(text)
    except configparser.Error as exc:
        raise ContentError(
            f"its .treeinfo cannot be read: {exc.message}", found="a damaged installation tree"
        ) from None
    return cp


def _get(cp: configparser.RawConfigParser, *pairs: tuple[str, str]) -> str:
    for section, key in pairs:
        if cp.has_option(section, key):
            value = cp.get(section, key).strip()
            if value:
                return value
    return ""


def _linux_version(v: str) -> str:
    """'9.3.0' → '9.3'; '9' → '9'; '8.10' → '8.10'."""
    parts = v.strip().split(".")
    if len(parts) > 2 and parts[2] == "0":
        parts = parts[:2]
    return ".".join(parts)


def _suse_version(v: str) -> str:
    """'15 SP4', '15.4', '15-SP4' → '15 SP4'; '15', '15.0' → '15'; '12.5' → '12 SP5'."""
    m = re.match(r"^\s*(\d+)(?:[ ._-]*(?:SP|sp)\s*(\d+)|\.(\d+))?", v)
    if not m:
        return v.strip()
    major, sp = m.group(1), m.group(2) or m.group(3)
    return f"{major} SP{sp}" if sp and sp != "0" else major


_RH_PRODUCTS: list[tuple[str, str]] = [
    ("red hat enterprise linux", "rhel"),
    ("rhel", "rhel"),
    ("centos", "centos"),
    ("rocky", "rocky"),
    ("almalinux", "alma"),
    ("oracle linux", "oracle"),
    ("ol", "oracle"),
    ("fedora", "fedora"),
    ("suse linux enterprise server", "sles"),
    ("suse linux enterprise desktop", "sled"),
    ("suse linux enterprise micro", "slem"),
    ("suse linux enterprise", "sles"),
    ("sle", "sles"),
    ("opensuse", "opensuse"),
]


def _product_family(*names: str) -> str | None:
    for name in names:
        low = name.strip().lower()
        if not low:
            continue
        for prefix, fam in _RH_PRODUCTS:
            if low == prefix or low.startswith(prefix + " ") or low.startswith(prefix + "-"):
                return fam
            if len(prefix) > 3 and low.startswith(prefix):
                return fam
    return None


_FOREIGN_NAMES = {
    "fedora": "Fedora",
    "sled": "SUSE Linux Enterprise Desktop",
    "slem": "SUSE Linux Enterprise Micro",
    "opensuse": "openSUSE",
    "debian": "Debian",
}


@dataclass
class TreeInfo:
    family: str | None
    product: str
    version: str
    arch: str | None
    variants: list[str]
    kernel: str | None


def parse_treeinfo(text: str) -> TreeInfo:
    """A ``.treeinfo`` (productmd format or the older one) read with configparser."""
    cp = _ini(text)
    product = _get(cp, ("release", "name"), ("general", "family"), ("general", "name"))
    short = _get(cp, ("release", "short"))
    family = _product_family(
        _get(cp, ("general", "family")), product, short, _get(cp, ("general", "name"))
    )
    if family in ("sles", "sled", "slem"):  # SLE 15 names the product in [general] family
        family = _product_family(_get(cp, ("general", "family")), product) or family
    version = _get(cp, ("release", "version"), ("general", "version"))
    arch = norm_arch(_get(cp, ("tree", "arch"), ("general", "arch")))
    variants_raw = _get(cp, ("tree", "variants"), ("general", "variants"))
    if variants_raw:
        variants = [v.strip() for v in variants_raw.split(",") if v.strip()]
    else:
        one = _get(cp, ("general", "variant"))
        variants = [one] if one else []
    kernel = None
    for section in cp.sections():
        if section.startswith("images-") and cp.has_option(section, "kernel"):
            kernel = cp.get(section, "kernel").strip()
            break
    return TreeInfo(family, product, version, arch, variants, kernel)


def _finish(info: MediaInfo) -> MediaInfo:
    fam = FAMILIES.get(info.family)
    if fam is None:
        info.deployable = False
        info.reason = info.reason or f"{info.name}, which is not a deployable server OS"
    if info.deployable:
        if not info.profiles and fam is not None:
            info.profiles = list(fam.profiles)
        info.image_id = image_id_for(info)
    return info


def image_id_for(info: MediaInfo) -> str:
    v = info.version
    f = info.family
    if f == "rhel":
        base = f"rhels{v}"
    elif f == "sles":
        base = "sles" + v.replace(" SP", "sp").replace(" ", "")
    elif f == "windows":
        base = f"win{v}"
    elif f == "esxi":
        base = f"esxi{v.lower()}"
    elif f == "centos" and "stream" in info.name.lower():
        base = f"centos-stream{v}"
    else:
        base = f"{f}{v}"
    if info.arch and info.arch != "x86_64":
        base += f"-{info.arch}"
    return re.sub(r"[^A-Za-z0-9._+-]", "_", base)
