"""Recognise an installation medium: which OS, which release, which editions.

The files on the medium decide (``.treeinfo``, ``.discinfo``, ``media.repo``,
``media.1/products``, ``content``, ``.disk/info``, ``dists/*/Release``, ESXi's
``boot.cfg`` and ``upgrade/metadata.xml``, Windows' ``sources/install.wim``). The
volume header matched against osinfo-db confirms them, names the osinfo short id,
and recognises media whose files say nothing. Where files and header disagree, the
files win.
"""

from __future__ import annotations

import configparser
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from osdepot.content.iso9660 import IsoImage, VolumeHeader
from osdepot.content.osinfo import IsoRule, OsinfoDb
from osdepot.content.source import ContentError, FileData
from osdepot.content.udf import UdfVolume
from osdepot.content.wim import WimImage, read_wim_images
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


# -- helpers ---------------------------------------------------------------------------


def _ini(text: str) -> configparser.RawConfigParser:
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


# -- recognisers -----------------------------------------------------------------------


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


def _recognise_windows(m: Medium) -> MediaInfo | None:
    wim = m.open("sources/install.wim") or m.open("sources/install.esd")
    if wim is None:
        if m.exists("sources/boot.wim") and m.exists("bootmgr"):
            return MediaInfo(
                family="winpe",
                name="Windows PE boot medium",
                version="",
                arch=None,
                deployable=False,
                source="files",
                evidence=["sources/boot.wim"],
                reason="a Windows PE boot medium without sources/install.wim, "
                "which is not a deployable server OS",
            )
        return None
    images = read_wim_images(wim)
    servers = [i for i in images if i.installation_type.lower().startswith("server")]
    build = max(i.build for i in images)
    arch = next((i.arch for i in images if i.arch), None)
    evidence = [wim.name]
    if not servers:
        client = "Windows 11" if build >= 22000 else "Windows 10" if build >= 10240 else "Windows"
        return MediaInfo(
            family="windows-client",
            name=f"Microsoft {client} (build {build})",
            version=str(build),
            arch=arch,
            deployable=False,
            source="files",
            build=str(build),
            evidence=evidence,
            editions=[_edition(i) for i in images],
            reason=f"Microsoft {client}, a client edition, which is not a deployable server OS",
        )
    server_build = max(i.build for i in servers)
    year = WINDOWS_BUILDS.get(server_build)
    editions = [_edition(i) for i in servers]
    profiles = []
    for e in editions:
        if e["profile"] and e["profile"] not in profiles:
            profiles.append(e["profile"])
    if year is None:
        b = server_build
        return MediaInfo(
            family="windows-other",
            name=f"Microsoft Windows Server (build {b})",
            version=str(b),
            arch=arch,
            deployable=False,
            source="files",
            build=str(b),
            editions=editions,
            evidence=evidence,
            reason=f"Microsoft Windows Server build {b}, a release osdepot does not deploy "
            f"(it deploys builds {', '.join(f'{k} ({v})' for k, v in WINDOWS_BUILDS.items())})",
        )
    return _finish(
        MediaInfo(
            family="windows",
            name=f"Microsoft Windows Server {year}",
            version=year,
            arch=arch,
            deployable=True,
            source="files",
            build=str(server_build),
            profiles=profiles,
            editions=editions,
            evidence=evidence,
        )
    )


def _edition(i: WimImage) -> dict[str, Any]:
    ed = i.edition_id
    base = ed.removeprefix("Server").removesuffix("Eval").removesuffix("ACor").strip()
    core = i.installation_type.lower() == "server core"
    profile = f"{base}_core" if core and base else base
    return {
        "index": i.index,
        "name": i.name,
        "editionId": ed,
        "installationType": i.installation_type,
        "build": i.build,
        "profile": profile if i.installation_type.lower().startswith("server") else None,
    }


def _recognise_esxi(m: Medium, header: VolumeHeader | None) -> MediaInfo | None:
    boot = m.text("boot.cfg")
    meta = m.text("upgrade/metadata.xml")
    osl = m.text("vmware-esx-base-osl.txt", 8192)
    if boot is None or not (meta or osl or "esx" in boot.lower()):
        return None
    version = build = None
    evidence = ["boot.cfg"]
    vid = header.volume_id if header else ""
    hv = re.match(r"^ESXI-(\d+\.\d+(?:U\d+[a-z]?)?)-(\d+)", vid, re.I)
    if hv:
        version, build = hv.group(1).upper(), hv.group(2)
    mb = re.search(r"^build\s*=\s*(\d+)\.(\d+)\.(\d+)-[\d.]*?(\d{5,})\s*$", boot, re.M)
    if mb:
        major, minor, upd, b = mb.groups()
        fv = f"{major}.{minor}" + (f"U{upd}" if upd != "0" else "")
        version, build = fv, b
    if meta:
        evidence.append("upgrade/metadata.xml")
        mv = re.search(r"<esxVersion>\s*([\d.]+)\s*</esxVersion>", meta)
        mbld = re.search(r"<build>\s*(\d+)\s*</build>", meta) or re.search(
            r"build[\"'=:\s>]+(\d{5,})", meta
        )
        if mv and not version:
            parts = mv.group(1).split(".")
            version = ".".join(parts[:2]) + (
                f"U{parts[2]}" if len(parts) > 2 and parts[2] != "0" else ""
            )
        if mbld and not build:
            build = mbld.group(1)
    if osl:
        evidence.append("vmware-esx-base-osl.txt")
        mo = re.search(r"ESXi\s+(\d+\.\d+)(?:\s+Update\s+(\d+))?", osl)
        if mo and not version:
            version = mo.group(1) + (f"U{mo.group(2)}" if mo.group(2) else "")
    if not version:
        raise ContentError(
            "it carries ESXi installer files but none of them names the ESXi version",
            found="an ESXi medium without version information",
        )
    version = version.replace("u", "U")
    return _finish(
        MediaInfo(
            family="esxi",
            name=f"VMware ESXi {version.replace('U', ' Update ')}",
            version=version,
            arch="x86_64",
            deployable=True,
            source="files",
            build=build,
            evidence=evidence,
        )
    )


def _recognise_treeinfo(m: Medium) -> MediaInfo | None:
    text = m.text(".treeinfo")
    discinfo = m.text(".discinfo", 4096)
    media_repo = m.text("media.repo", 4096)
    if text is None and discinfo is None and media_repo is None:
        return None
    evidence = []
    fam = None
    version = ""
    arch = None
    variants: list[str] = []
    product = ""
    if text is not None:
        ti = parse_treeinfo(text)
        evidence.append(".treeinfo")
        fam, version, arch, variants, product = (
            ti.family,
            ti.version,
            ti.arch,
            ti.variants,
            ti.product,
        )
    if discinfo is not None:
        lines = discinfo.splitlines()
        evidence.append(".discinfo")
        if not fam and len(lines) > 1:
            product = lines[1].strip()
            fam = _product_family(product)
            mv = re.search(r"(\d+(?:\.\d+)*)\s*$", product)
            version = version or (mv.group(1) if mv else "")
        if not arch and len(lines) > 2:
            arch = norm_arch(lines[2])
    if media_repo is not None:
        evidence.append("media.repo")
        mn = re.search(r"^name\s*=\s*(.+)$", media_repo, re.M)
        if mn and not fam:
            product = mn.group(1).strip()
            fam = _product_family(product)
            mv = re.search(r"(\d+(?:\.\d+)*)\s*$", product)
            version = version or (mv.group(1) if mv else "")
    if fam is None:
        return None
    if fam in ("sles", "sled", "slem", "opensuse"):
        version = _suse_version(version) if fam != "opensuse" else version
    else:
        version = _linux_version(version)
    if not version:
        raise ContentError(
            f"its {evidence[0]} names {product or fam} but no version",
            found="an installation tree without a version",
        )
    if fam in FAMILIES:
        display = FAMILIES[fam].display
        if fam == "centos" and "stream" in product.lower():
            display = "CentOS Stream"
    else:
        display = _FOREIGN_NAMES.get(fam, product or fam)
    return _finish(
        MediaInfo(
            family=fam,
            name=f"{display} {version}",
            version=version,
            arch=arch,
            deployable=fam in FAMILIES,
            source="files",
            variants=variants,
            evidence=evidence,
        )
    )


def _recognise_suse_legacy(m: Medium) -> MediaInfo | None:
    """SLES 11/12 media: ``content`` (LABEL, VERSION, BASEARCHS) or ``media.1/products``."""
    content = m.text("content", 65536)
    products = m.text("media.1/products", 4096)
    if content is None and products is None:
        return None
    label = version = arch = ""
    evidence = []
    if content is not None:
        evidence.append("content")
        for line in content.splitlines():
            key, _, value = line.partition(" ")
            value = value.strip()
            if key in ("LABEL", "SUMMARY") and not label:
                label = value
            elif key == "VERSION" and not version:
                version = value
            elif key == "BASEARCHS" and not arch:
                arch = value.split()[0] if value else ""
    if products is not None:
        evidence.append("media.1/products")
        first = next((ln for ln in products.splitlines() if ln.strip()), "")
        parts = first.split()
        if len(parts) >= 2 and not label:
            label = parts[1]
        if len(parts) >= 3 and not version:
            version = parts[2].split("-")[0]
    fam = _product_family(label) or ("sles" if re.match(r"^SLES?[-_ ]?\d", label, re.I) else None)
    if fam is None:
        return None
    msp = re.search(r"(\d+)[-_ ]?SP(\d+)", label, re.I)
    if msp:
        version = f"{msp.group(1)} SP{msp.group(2)}"
    version = _suse_version(version) if fam != "opensuse" else version
    display = FAMILIES[fam].display if fam in FAMILIES else _FOREIGN_NAMES.get(fam, label)
    return _finish(
        MediaInfo(
            family=fam,
            name=f"{display} {version}",
            version=version,
            arch=norm_arch(arch),
            deployable=fam in FAMILIES,
            source="files",
            evidence=evidence,
        )
    )


def _recognise_debian(m: Medium) -> MediaInfo | None:
    info = m.text(".disk/info", 4096)
    if info is None:
        return None
    info = info.strip()
    live = m.exists("casper")
    classic = m.exists("install") or m.exists("install.amd") or m.exists("install.a64")
    evidence = [".disk/info"] + (["casper/"] if live else []) + (["install/"] if classic else [])
    release_version = None
    for dist in m.listdir("dists")[:8]:
        rel = m.text(f"dists/{dist}/Release", 65536)
        if rel is None:
            continue
        mv = re.search(r"^Version:\s*(\S+)", rel, re.M)
        if mv:
            release_version = mv.group(1)
            evidence.append(f"dists/{dist}/Release")
            break
    arch_m = re.search(r"\b(amd64|arm64|i386|ppc64el|s390x|x86_64|aarch64)\b", info)
    arch = norm_arch(arch_m.group(1)) if arch_m else None
    if info.lower().startswith("ubuntu"):
        mv = re.search(r"(\d+\.\d+)", info)
        version = release_version or (mv.group(1) if mv else "")
        version = ".".join(version.split(".")[:2])
        server = "server" in info.split('"')[0].lower()
        if not (live or classic):
            return None
        return _finish(
            MediaInfo(
                family="ubuntu" if server else "ubuntu-desktop",
                name=f"Ubuntu {'Server' if server else 'Desktop'} {version}",
                version=version,
                arch=arch,
                deployable=server,
                source="files",
                evidence=evidence,
            )
        )
    if info.lower().startswith("debian"):
        mv = re.search(r"(\d+)(?:\.\d+)*", info)
        version = mv.group(1) if mv else (release_version or "")
        return _finish(
            MediaInfo(
                family="debian",
                name=f"Debian {version}",
                version=version,
                arch=arch,
                deployable=False,
                source="files",
                evidence=evidence,
            )
        )
    return None


# -- osinfo-db and the whole recognition -----------------------------------------------


def _osinfo_family(rule: IsoRule) -> str | None:
    fam = _DISTRO_FAMILY.get(rule.os.distro)
    short = rule.os.short_id
    if fam == "windows":
        return "windows" if short in _WIN_SHORT else None
    if fam == "rhel" and not re.match(r"^rhel\d", short):
        return None  # RHEL Atomic Host and the like
    return fam


def pick_rule(rules: list[IsoRule]) -> IsoRule:
    """Where osinfo-db itself is ambiguous (several releases share a header), the
    earliest release; the files on the medium decide between them."""
    return min(rules, key=lambda r: (r.os.release_date or "9999", r.os.short_id))


def _from_header(rule: IsoRule, header: VolumeHeader) -> MediaInfo:
    entry = rule.os
    fam = _osinfo_family(rule)
    arch = norm_arch(rule.arch)
    if fam is None:  # _finish refuses it: "…, which is not a deployable server OS"
        return _finish(
            MediaInfo(
                family=entry.distro or "unknown",
                name=entry.name,
                version=entry.version,
                arch=arch,
                deployable=False,
                source="header",
                osinfo_id=entry.short_id,
                evidence=["volume header"],
            )
        )
    version = entry.version
    name = entry.name
    if fam == "windows":
        version = _WIN_SHORT[entry.short_id]
    elif fam == "sles":
        m = re.match(r"^sles?(\d+)(?:sp(\d+))?", entry.short_id)
        version = _suse_version(f"{m.group(1)} SP{m.group(2) or 0}") if m else version
    elif fam == "ubuntu":
        if "server" not in header.volume_id.lower():
            fam, name = "ubuntu-desktop", f"Ubuntu Desktop {version}"
        version = ".".join(version.split(".")[:2])
    else:
        version = _linux_version(version)
    return _finish(
        MediaInfo(
            family=fam,
            name=name,
            version=version,
            arch=arch,
            deployable=fam in FAMILIES,
            source="header",
            osinfo_id=entry.short_id,
            evidence=["volume header"],
        )
    )


def _osinfo_id_for(info: MediaInfo, db: OsinfoDb) -> str | None:
    v = info.version
    major = v.split(".")[0].split(" ")[0]
    cands: list[str] = []
    f = info.family
    if f == "rhel":
        cands = [f"rhel{v}"]
    elif f == "centos":
        cands = [f"centos-stream{major}"] if "stream" in info.name.lower() else [f"centos{v}"]
    elif f == "rocky":
        cands = [f"rocky{v}", f"rocky{major}"]
    elif f == "alma":
        cands = [f"almalinux{v}", f"almalinux{major}"]
    elif f == "oracle":
        cands = [f"ol{v}"]
    elif f == "sles":
        sp = v.replace(" SP", "sp").replace(" ", "")
        cands = [f"sle{sp}", f"sles{sp}"]
    elif f == "ubuntu":
        cands = [f"ubuntu{v}"]
    elif f == "windows":
        cands = [k for k, y in _WIN_SHORT.items() if y == v]
    elif f == "debian":
        cands = [f"debian{v}"]
    elif f == "fedora":
        cands = [f"fedora{v}"]
    elif f == "opensuse":
        cands = [f"opensuse{v}"]
    known = {s for e in db.entries.values() for s in e.short_ids} if db.available else set()
    return next((c for c in cands if c in known), None)


RECOGNISERS: list[Callable[[Medium, VolumeHeader | None], MediaInfo | None]] = [
    lambda m, h: _recognise_windows(m),
    _recognise_esxi,
    lambda m, h: _recognise_treeinfo(m),
    lambda m, h: _recognise_suse_legacy(m),
    lambda m, h: _recognise_debian(m),
]


def recognise(iso: IsoImage, db: OsinfoDb) -> MediaInfo | None:
    """What the medium is, or None when nothing identifies an installer on it."""
    medium = Medium(iso)
    header = iso.header
    rules = db.match(header) if header is not None and db.available else []
    by_header = pick_rule(rules) if rules else None
    from_files = None
    for rec in RECOGNISERS:
        from_files = rec(medium, header)
        if from_files is not None:
            break
    if from_files is not None:
        derived = _osinfo_id_for(from_files, db)
        if by_header is not None:
            header_ids = {r.os.short_id for r in rules}
            fam = _osinfo_family(by_header) or by_header.os.distro
            if fam != from_files.family:
                from_files.notes.append(
                    f"The volume header matches {by_header.os.name} in osinfo-db; the "
                    "files on the medium say otherwise and decide."
                )
            elif derived is None:
                derived = by_header.os.short_id
            elif derived not in header_ids:
                from_files.notes.append(
                    f"The volume header matches {by_header.os.name} in osinfo-db; the "
                    f"files on the medium say {from_files.name} and decide."
                )
        from_files.osinfo_id = derived
        return from_files
    if by_header is None:
        return None
    info = _from_header(by_header, header)  # type: ignore[arg-type]
    others = sorted({r.os.short_id for r in rules} - {by_header.os.short_id})
    if others:
        info.notes.append(
            "osinfo-db matches this header for several releases "
            f"({', '.join([by_header.os.short_id, *others])}); the earliest is reported."
        )
    if info.deployable and not (iso.el_torito or iso.udf):
        # A header that names a server OS on a disc nobody can boot from.
        info.deployable = False
        info.reason = None
        return None
    return info
