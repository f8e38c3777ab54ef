"""Build small, real disc images for tests: ISO 9660 (Joliet, Rock Ridge, El Torito)
and UDF, written by pycdlib, with the primary volume descriptor's identification
fields patched in afterwards (pycdlib caps the volume id at Joliet's 16 characters)."""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path
from typing import Any

import pycdlib

SECTOR = 2048
PVD = 16 * SECTOR

_FIELDS = {  # name → (offset in the PVD, length)
    "system_id": (8, 32),
    "volume_id": (40, 32),
    "publisher_id": (318, 128),
    "application_id": (574, 128),
}


def _iso_name(part: str, is_dir: bool, used: set[str]) -> str:
    base = (
        "".join(c if c.isascii() and c.isalnum() else "_" for c in part.upper().lstrip("."))[:8]
        or "X"
    )
    name = base
    n = 0
    while name in used:
        n += 1
        name = f"{base[:6]}{n:02d}"
    used.add(name)
    return name if is_dir else f"{name}.;1"


def make_iso(  # noqa: C901 (one option per ISO feature)
    path: Path,
    files: dict[str, bytes],
    *,
    volume_id: str = "TEST",
    bootable: bool = True,
    joliet: bool = True,
    rock_ridge: bool = True,
    udf: bool = False,
    **header: str,
) -> Path:
    """An image holding ``files`` (paths like ``images/pxeboot/vmlinuz``)."""
    iso = pycdlib.PyCdlib()
    kw: dict[str, Any] = {"vol_ident": "TEST"}
    if joliet:
        kw["joliet"] = 3
    if rock_ridge:
        kw["rock_ridge"] = "1.09"
    if udf:
        kw["udf"] = "2.60"
    iso.new(**kw)
    iso_paths: dict[str, str] = {"": ""}
    used: dict[str, set[str]] = {}

    def other_names(rel: str, name: str) -> dict[str, Any]:
        """The Rock Ridge, Joliet and UDF names of a path, for the trees the image has."""
        args: dict[str, Any] = {}
        if rock_ridge:
            args["rr_name"] = name
        if joliet:
            args["joliet_path"] = "/" + rel
        if udf:
            args["udf_path"] = "/" + rel
        return args

    def ensure_dir(rel: str) -> str:
        if rel in iso_paths:
            return iso_paths[rel]
        parent, _, name = rel.rpartition("/")
        pp = ensure_dir(parent)
        ip = f"{pp}/{_iso_name(name, True, used.setdefault(parent, set()))}"
        iso.add_directory(ip, **other_names(rel, name))
        iso_paths[rel] = ip
        return ip

    all_files = dict(files)
    if bootable:
        all_files.setdefault("boot/eltorito.img", b"\xeb\xfe" + b"\x00" * 2046)
    for rel, data in sorted(all_files.items()):
        parent, _, name = rel.rpartition("/")
        pp = ensure_dir(parent)
        ip = f"{pp}/{_iso_name(name, False, used.setdefault(parent, set()))}"
        iso.add_fp(io.BytesIO(data), len(data), ip, **other_names(rel, name))
        iso_paths[rel] = ip
    if bootable:
        bc: dict[str, Any] = {"bootcatfile": "/BOOT.CAT;1"}
        if rock_ridge:
            bc["rr_bootcatname"] = "boot.cat"
        if joliet:
            bc["joliet_bootcatfile"] = "/boot.cat"
        if udf:
            bc["udf_bootcatfile"] = "/boot.cat"
        iso.add_eltorito(iso_paths["boot/eltorito.img"], **bc)
    iso.write(str(path))
    iso.close()
    patch_header(path, None, volume_id=volume_id, **header)
    return path


def patch_header(path: Path, volume_size: int | None = None, **fields: Any) -> None:
    """Write identification fields (and a volume size, in bytes) into the PVD."""
    with open(path, "r+b") as f:
        f.seek(PVD)
        pvd = bytearray(f.read(SECTOR))
        assert pvd[1:6] == b"CD001" and pvd[0] == 1
        for name, value in fields.items():
            off, length = _FIELDS[name]
            raw = value.encode("latin-1")[:length]
            pvd[off : off + length] = raw + b" " * (length - len(raw))
        if volume_size is not None:
            blocks = volume_size // SECTOR
            pvd[80:88] = struct.pack("<I", blocks) + struct.pack(">I", blocks)
        f.seek(PVD)
        f.write(pvd)
        if volume_size is not None and os.fstat(f.fileno()).st_size < volume_size:
            f.truncate(volume_size)  # sparse: the image is as long as it says


def wim(images: list[dict[str, object]]) -> bytes:
    """A WIM file: a 208-byte header and the UTF-16 image list it points at."""
    parts = []
    for i, im in enumerate(images, 1):
        parts.append(
            f'<IMAGE INDEX="{im.get("index", i)}"><NAME>{im["name"]}</NAME><WINDOWS>'
            f"<ARCH>{im.get('arch', 9)}</ARCH><PRODUCTTYPE>{im.get('product', 'ServerNT')}"
            f"</PRODUCTTYPE><EDITIONID>{im['edition']}</EDITIONID>"
            f"<INSTALLATIONTYPE>{im['install']}</INSTALLATIONTYPE>"
            f"<VERSION><MAJOR>10</MAJOR><MINOR>0</MINOR><BUILD>{im['build']}</BUILD>"
            f"</VERSION></WINDOWS></IMAGE>"
        )
    xml = ("\ufeff<WIM><TOTALBYTES>0</TOTALBYTES>" + "".join(parts) + "</WIM>").encode("utf-16-le")
    body = b"\x00" * 4096  # stands in for the compressed resources
    offset = 208 + len(body)
    head = bytearray(208)
    head[0:8] = b"MSWIM\x00\x00\x00"
    struct.pack_into("<IIII", head, 8, 208, 0x10D00, 0x2, 32768)
    struct.pack_into("<I", head, 44, len(images))
    struct.pack_into("<Q", head, 72, len(xml))
    struct.pack_into("<QQ", head, 80, offset, len(xml))
    return bytes(head) + body + xml


# -- synthetic installation media with the real file layout ---------------------------

_RH = {  # family → (release name, short, volume id prefix)
    "rhel": ("Red Hat Enterprise Linux", "RHEL", "RHEL"),
    "rocky": ("Rocky Linux", "Rocky", "Rocky"),
    "alma": ("AlmaLinux", "AlmaLinux", "AlmaLinux"),
    "centos": ("CentOS Stream", "CentOS-Stream", "CentOS-Stream"),
    "oracle": ("Oracle Linux", "OL", "OL"),
}


def rhel_like_files(
    family: str = "rhel", version: str = "9.4", arch: str = "x86_64"
) -> dict[str, bytes]:
    name, short, _ = _RH[family]
    treeinfo = f"""[header]
type = productmd.treeinfo
version = 1.2

[release]
name = {name}
short = {short}
version = {version}

[tree]
arch = {arch}
platforms = {arch}
variants = AppStream,BaseOS

[variant-AppStream]
id = AppStream
name = AppStream
packages = AppStream/Packages
repository = AppStream
type = variant

[variant-BaseOS]
id = BaseOS
name = BaseOS
packages = BaseOS/Packages
repository = BaseOS
type = variant

[images-{arch}]
kernel = images/pxeboot/vmlinuz
initrd = images/pxeboot/initrd.img
boot.iso = images/boot.iso

[stage2]
mainimage = images/install.img
"""
    boot = {
        "images/pxeboot/vmlinuz": b"kernel",
        "images/pxeboot/initrd.img": b"initrd",
        "images/install.img": b"stage2",
    }
    # As on real DVDs: the tree's checksums (boot.iso among them, not on the DVD),
    # and repositories whose repomd.xml checksums their metadata files.
    sums = "".join(f"{p} = sha256:{_sha256(d)}\n" for p, d in boot.items())
    sums += "images/boot.iso = sha256:" + "0" * 64 + "\n"
    primary = b"\x1f\x8b primary metadata"
    files = {
        ".treeinfo": (treeinfo + "\n[checksums]\n" + sums).encode(),
        ".discinfo": f"1700000000.000000\n{name} {version}\n{arch}\n".encode(),
        "media.repo": f"[InstallMedia]\nname={name} {version}\nmediaid=None\n".encode(),
        **boot,
    }
    for repo in ("BaseOS", "AppStream"):
        files[f"{repo}/repodata/primary.xml.gz"] = primary
        files[f"{repo}/repodata/repomd.xml"] = repomd(
            {"primary": "repodata/primary.xml.gz"}, primary
        )
    return files


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def repomd(entries: dict[str, str], data: bytes) -> bytes:
    """A repodata/repomd.xml whose entries point at ``href``s holding ``data``."""
    rows = "".join(
        f'<data type="{kind}"><checksum type="sha256">{_sha256(data)}</checksum>'
        f'<location href="{href}"/></data>'
        for kind, href in entries.items()
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<repomd xmlns="http://linux.duke.edu/metadata/repo">{rows}</repomd>'
    ).encode()


def sles_files(version: str = "15 SP5") -> dict[str, bytes]:
    major, _, sp = version.partition(" SP")
    treeinfo = f"""[general]
arch = x86_64
family = SUSE Linux Enterprise Server
name = SUSE Linux Enterprise
version = {major}.{sp or 0}

[release]
name = SUSE Linux Enterprise
short = sle
version = {version}

[images-x86_64]
kernel = boot/x86_64/loader/linux
initrd = boot/x86_64/loader/initrd
"""
    boot = {"boot/x86_64/loader/linux": b"kernel", "boot/x86_64/loader/initrd": b"initrd"}
    return {
        ".treeinfo": treeinfo.encode(),
        "media.1/products": f"/ SLES{major}-SP{sp} {major}.{sp}-0\n".encode(),
        **boot,
        # SLE 15 media list their files' SHA-256 in CHECKSUMS (signed by CHECKSUMS.asc).
        "CHECKSUMS": "".join(f"{_sha256(d)}  {p}\n" for p, d in boot.items()).encode(),
    }


def ubuntu_files(version: str = "22.04.3", server: bool = True) -> dict[str, bytes]:
    label = "Ubuntu-Server" if server else "Ubuntu"
    short = ".".join(version.split(".")[:2])
    files = {
        ".disk/info": (
            f'{label} {version} LTS "Jammy Jellyfish" - Release amd64 (20230810)'
        ).encode(),
        "casper/vmlinuz": b"kernel",
        "casper/initrd": b"initrd",
        "dists/jammy/Release": f"Origin: Ubuntu\nSuite: jammy\nVersion: {short}\n".encode(),
    }
    import hashlib

    # Ubuntu media list every file's MD5 in md5sum.txt, as "<md5>  ./path".
    files["md5sum.txt"] = "".join(
        f"{hashlib.md5(d).hexdigest()}  ./{p}\n" for p, d in files.items()
    ).encode()
    return files


def esxi_files(version: str = "8.0.2", build: str = "22380479") -> dict[str, bytes]:
    boot_cfg = (
        f"bootstate=0\ntitle=Loading ESXi installer\ntimeout=5\nkernel=/b.b00\n"
        f"kernelopt=runweasel cdromBoot\nmodules=/jumpstrt.gz --- /useropts.gz\n"
        f"build={version}-0.0.{build}\nupdated=0\n"
    )
    return {
        "boot.cfg": boot_cfg.encode(),
        # the UEFI loader's (mboot.efi) copy, as on VMware's media
        "efi/boot/boot.cfg": boot_cfg.replace("title=", "title=UEFI ").encode(),
        "upgrade/metadata.xml": (
            f"<metadata><esxVersion>{version}</esxVersion><build>{build}</build></metadata>"
        ).encode(),
        "vmware-esx-base-osl.txt": b"Open Source Licenses\nVMware ESXi\n",
        "b.b00": b"kernel",
        "jumpstrt.gz": b"\x1f\x8b jumpstart",
        "useropts.gz": b"\x1f\x8b useropts",
    }


WIN2022_EDITIONS = [
    {
        "name": "Windows Server 2022 SERVERSTANDARDCORE",
        "edition": "ServerStandard",
        "install": "Server Core",
        "build": 20348,
    },
    {
        "name": "Windows Server 2022 SERVERSTANDARD",
        "edition": "ServerStandard",
        "install": "Server",
        "build": 20348,
    },
    {
        "name": "Windows Server 2022 SERVERDATACENTERCORE",
        "edition": "ServerDatacenter",
        "install": "Server Core",
        "build": 20348,
    },
    {
        "name": "Windows Server 2022 SERVERDATACENTER",
        "edition": "ServerDatacenter",
        "install": "Server",
        "build": 20348,
    },
]


def windows_files(editions: list[dict[str, Any]] | None = None) -> dict[str, bytes]:
    return {
        "sources/install.wim": wim(editions or WIN2022_EDITIONS),
        "sources/boot.wim": b"MSWIM\x00\x00\x00",
        "bootmgr": b"bootmgr",
        "efi/boot/bootx64.efi": b"efi",
    }


def medium(path: Path, kind: str, **kw: object) -> Path:
    """One synthetic installation medium of ``kind`` (rhel, rocky, sles, ubuntu, …)."""
    if kind in _RH:
        version = str(kw.get("version", "9.4"))
        arch = str(kw.get("arch", "x86_64"))
        vid = f"{_RH[kind][2]}-{version.replace('.', '-')}-0-BaseOS-{arch}"
        return make_iso(path, rhel_like_files(kind, version, arch), volume_id=vid[:32])
    if kind == "sles":
        version = str(kw.get("version", "15 SP5"))
        vid = "SLE-" + version.replace(" ", "-") + "-Full-x86_64"
        return make_iso(path, sles_files(version), volume_id=vid)
    if kind == "ubuntu":
        version = str(kw.get("version", "22.04.3"))
        server = bool(kw.get("server", True))
        label = "Ubuntu-Server" if server else "Ubuntu"
        return make_iso(
            path, ubuntu_files(version, server), volume_id=f"{label} {version[:5]} LTS amd64"
        )
    if kind == "esxi":
        version = str(kw.get("version", "8.0.2"))
        build = str(kw.get("build", "22380479"))
        major, minor, upd = version.split(".")
        vid = f"ESXI-{major}.{minor}U{upd}-{build}-STANDARD"
        return make_iso(path, esxi_files(version, build), volume_id=vid[:32])
    if kind == "windows":
        return make_iso(
            path,
            windows_files(kw.get("editions")),  # type: ignore[arg-type]
            udf=True,
            volume_id="SSS_X64FREE_EN-US_DV9",
            publisher_id="MICROSOFT CORPORATION",
        )
    raise ValueError(kind)


_cache: dict[tuple[Any, ...], bytes] = {}


def medium_bytes(kind: str = "rhel", **kw: object) -> bytes:
    """The bytes of :func:`medium` (built once per set of arguments)."""
    import tempfile

    key = (kind, tuple(sorted(kw.items(), key=lambda x: x[0])).__repr__())
    if key not in _cache:
        with tempfile.TemporaryDirectory() as d:
            p = medium(Path(d) / "m.iso", kind, **kw)
            _cache[key] = p.read_bytes()
    return _cache[key]


def iso_file(image: bytes, **path: str) -> bytes:
    """A file of the ISO image ``image`` read with pycdlib, by ``iso_path``,
    ``rr_path`` or ``joliet_path``."""
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(image))
    try:
        buf = io.BytesIO()
        iso.get_file_from_iso_fp(buf, **path)
        return buf.getvalue()
    finally:
        iso.close()
