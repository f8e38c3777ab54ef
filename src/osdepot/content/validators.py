"""Content checks for every kind of file the repository keeps.

Each check reads the file through a :class:`Source` and raises
:class:`ContentError` with what it found when the content is not what the declared
type promises. Archives are listed, never extracted; XML is parsed with defusedxml
(no DTDs, no entities); text is decoded strictly.
"""

from __future__ import annotations

import codecs
import gzip
import json
import posixpath
import re
import struct
import tarfile
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Any

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from osdepot.content.iso9660 import IsoImage
from osdepot.content.source import ContentError, Source

MAX_TEXT = 64 << 20  # JSON, XML, kickstart, scripts, signatures
MAX_ARCHIVE_MEMBERS = 1_000_000
ZIP_MAX_RATIO = 200  # uncompressed / compressed, for any member of more than 1 MiB
ZIP_MAX_TOTAL = 1 << 40  # 1 TiB uncompressed in all
_MAX_STRUCTURE = 256 << 20  # the most one read of an archive's structures may ask for


@dataclass
class Findings:
    """What a check learnt about a valid file (shown by ``osdepot inspect``)."""

    kind: str
    details: dict[str, Any] = field(default_factory=dict)


def sniff(src: Source) -> str:  # noqa: C901 (one test per file kind, in the order they are told apart)
    """A short description of what the file looks like, for messages."""
    head = src.read_upto(0, 264)
    if head.startswith(b"\x1f\x8b"):
        return "a gzip file"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "a zip archive"
    if head.startswith(b"\xed\xab\xee\xdb"):
        return "an RPM package"
    if head.startswith(b"MSWIM"):
        return "a Windows imaging (WIM) file"
    if head.startswith(b"\x7fELF"):
        return "an ELF executable"
    if head.startswith(b"%PDF"):
        return "a PDF document"
    if head.startswith(b"MZ"):
        return "a Windows executable"
    if len(head) > 262 and head[257:262] == b"ustar":
        return "an uncompressed tar archive"
    if src.size >= 17 * 2048:
        d = src.read(16 * 2048, 8)
        if d[1:6] == b"CD001":
            return "an ISO 9660 image"
        if d[1:6] in (b"BEA01", b"NSR02", b"NSR03"):
            return "a UDF image"
    if head.startswith(b"-----BEGIN PGP"):
        return "a PGP armored file"
    if head.lstrip()[:1] in (b"{", b"["):
        return "JSON-like text"
    if head.lstrip().startswith(b"<"):
        return "XML-like text"
    if src.size == 0:
        return "an empty file"
    if b"\x00" in head:
        return "binary data"
    return "text"


def _read_text_bytes(src: Source, what: str) -> bytes:
    if src.size == 0:
        raise ContentError(f"the file is empty; a {what} is expected", found="an empty file")
    if src.size > MAX_TEXT:
        raise ContentError(
            f"it is {src.size} bytes, more than a {what} can be ({MAX_TEXT} bytes)",
            found="a file too large for its type",
        )
    return src.read(0, src.size, what)


# -- disc images -----------------------------------------------------------------------


def open_disc(src: Source) -> IsoImage:
    """The image's descriptors; refuses what is no ISO 9660/UDF image or is truncated."""
    try:
        iso = IsoImage(src)
    except ContentError as exc:
        if exc.found == "not a disc image":
            raise ContentError(
                f"it has no ISO 9660 or UDF volume descriptors; it is {sniff(src)}",
                found=sniff(src),
            ) from None
        raise
    iso.check_length()
    return iso


def check_dud_iso(src: Source) -> Findings:
    iso = open_disc(src)
    if iso.lookup("rhdd3") is None and iso.lookup(".rhdd3") is None:
        raise ContentError(
            "it is a disc image but carries no rhdd3 file, so it is not a driver update disk (DUD)",
            found="a disc image without the driver update disk layout",
        )
    f = iso.open("rhdd3") or iso.open(".rhdd3")
    label = f.text(256).strip() if f is not None else ""
    return Findings("driver update disk (ISO)", {"label": label})


# -- archives --------------------------------------------------------------------------


def _unsafe_member(name: str) -> str | None:
    if name.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", name):
        return "an absolute path"
    if ".." in re.split(r"[\\/]", name):
        return "a '..' path component"
    if "\x00" in name:
        return "a NUL byte in its name"
    return None


def check_tar_gz(src: Source) -> Findings:
    head = src.read_upto(0, 2)
    if head != b"\x1f\x8b":
        raise ContentError(
            f"it does not start with the gzip signature; it is {sniff(src)}", found=sniff(src)
        )
    members = 0
    total = 0
    names: list[str] = []
    with _SourceFile(src) as raw, gzip.GzipFile(fileobj=raw) as gz:
        try:
            with tarfile.open(fileobj=gz, mode="r|") as tar:
                for ti in tar:
                    members += 1
                    if members > MAX_ARCHIVE_MEMBERS:
                        raise ContentError(
                            f"it holds more than {MAX_ARCHIVE_MEMBERS} members",
                            found="an oversized archive",
                        )
                    why = _unsafe_member(ti.name)
                    if why:
                        raise ContentError(
                            f"its member {ti.name!r} has {why}", found="an unsafe tar archive"
                        )
                    if ti.ischr() or ti.isblk() or ti.isfifo():
                        raise ContentError(
                            f"its member {ti.name!r} is a device or FIFO",
                            found="an unsafe tar archive",
                        )
                    if ti.issym() or ti.islnk():
                        target = ti.linkname
                        base = posixpath.dirname(ti.name) if ti.issym() else ""
                        resolved = posixpath.normpath(posixpath.join(base, target))
                        if target.startswith("/") or resolved.split("/")[0] == "..":
                            raise ContentError(
                                f"its link {ti.name!r} points outside the archive ({target!r})",
                                found="an unsafe tar archive",
                            )
                    total += ti.size
                    if len(names) < 20:
                        names.append(ti.name)
            while gz.read(1 << 20):  # the rest: a truncated stream or bad CRC shows here
                pass
        except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
            raise ContentError(
                f"it is not a complete gzip-compressed tar archive ({exc})",
                found="a damaged or truncated .tar.gz",
            ) from None
    if members == 0:
        raise ContentError("the archive is empty", found="an empty tar archive")
    return Findings("gzip-compressed tar archive", {"members": members, "bytes": total})


class _SourceFile:
    """A read-only file object over a :class:`Source` (for gzip and zipfile)."""

    def __init__(self, src: Source) -> None:
        self.src = src
        self.pos = 0

    def __enter__(self) -> _SourceFile:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.pos, 2: self.src.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.src.size - self.pos
        if n > _MAX_STRUCTURE:  # e.g. a zip central directory claiming gigabytes
            raise ContentError(f"one of its structures claims {n} bytes", found="a damaged archive")
        data = self.src.read_upto(self.pos, n)
        self.pos += len(data)
        return data

    def close(self) -> None:
        pass


def list_zip(src: Source) -> list[zipfile.ZipInfo]:
    head = src.read_upto(0, 4)
    if head[:2] != b"PK":
        raise ContentError(
            f"it does not start with the zip signature; it is {sniff(src)}", found=sniff(src)
        )
    try:
        zf = zipfile.ZipFile(_SourceFile(src))
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise ContentError(
            f"it has no valid zip central directory ({exc})",
            found="a damaged or truncated zip archive",
        ) from None
    if not infos:
        raise ContentError("the archive is empty", found="an empty zip archive")
    if len(infos) > MAX_ARCHIVE_MEMBERS:
        raise ContentError(
            f"it holds more than {MAX_ARCHIVE_MEMBERS} members", found="an oversized archive"
        )
    total = 0
    end = 0
    for info in sorted(infos, key=lambda i: i.header_offset):
        why = _unsafe_member(info.filename)
        if why:
            raise ContentError(
                f"its member {info.filename!r} has {why}", found="an unsafe zip archive"
            )
        if info.header_offset < end:
            raise ContentError(
                f"its member {info.filename!r} overlaps another member",
                found="a zip bomb (overlapping members)",
            )
        end = info.header_offset + 30 + len(info.filename.encode()) + info.compress_size
        if end > src.size:
            raise ContentError(
                f"its member {info.filename!r} lies beyond the end of the file",
                found="a truncated zip archive",
            )
        total += info.file_size
        if info.file_size > (1 << 20) and info.file_size > ZIP_MAX_RATIO * max(
            info.compress_size, 1
        ):
            raise ContentError(
                f"its member {info.filename!r} expands from {info.compress_size} to "
                f"{info.file_size} bytes (more than {ZIP_MAX_RATIO}:1)",
                found="a zip bomb",
            )
    if total > ZIP_MAX_TOTAL:
        raise ContentError(
            f"its members expand to {total} bytes, more than {ZIP_MAX_TOTAL}", found="a zip bomb"
        )
    return infos


def check_zip(src: Source, *, require: str | None = None) -> Findings:
    infos = list_zip(src)
    names = [i.filename for i in infos]
    details: dict[str, Any] = {"members": len(infos), "bytes": sum(i.file_size for i in infos)}
    if require == "inf":
        infs = [n for n in names if n.lower().endswith(".inf")]
        if not infs:
            raise ContentError(
                "the zip archive contains no .inf file, so it holds no Windows driver",
                found="a zip archive without drivers",
            )
        details["infFiles"] = len(infs)
        return Findings("Windows driver archive (zip)", details)
    if require == "winpe":
        wims = [n for n in names if n.lower().endswith(".wim")]
        if not wims:
            raise ContentError(
                "the zip archive contains no .wim image, so it holds no Windows PE boot "
                "environment",
                found="a zip archive without a boot image",
            )
        details["wimFiles"] = wims[:10]
        return Findings("Windows PE boot archive (zip)", details)
    return Findings("zip archive", details)


# -- RPM -------------------------------------------------------------------------------

_RPMTAG_NAME, _RPMTAG_VERSION, _RPMTAG_RELEASE, _RPMTAG_ARCH = 1000, 1001, 1002, 1022
_RPMTAG_PROVIDENAME, _RPMTAG_BASENAMES = 1047, 1117


#: The tags osdepot reads; the others (changelogs, file lists …) are never parsed.
_RPM_TAGS_READ = frozenset(
    {
        _RPMTAG_NAME,
        _RPMTAG_VERSION,
        _RPMTAG_RELEASE,
        _RPMTAG_ARCH,
        _RPMTAG_PROVIDENAME,
        _RPMTAG_BASENAMES,
    }
)


def _rpm_header(src: Source, offset: int, what: str) -> tuple[dict[int, Any], int]:
    h = src.read(offset, 16, what)
    if h[:3] != b"\x8e\xad\xe8":
        raise ContentError(f"its {what} has no header magic", found="a damaged RPM package")
    count, size = struct.unpack(">II", h[8:16])
    if count > 100_000 or size > 256 << 20:
        raise ContentError(f"its {what} is implausibly large", found="a damaged RPM package")
    index = src.read(offset + 16, count * 16, what)
    store = src.read(offset + 16 + count * 16, size, what)
    tags: dict[int, Any] = {}
    for i in range(count):
        tag, typ, off, cnt = struct.unpack_from(">IIII", index, i * 16)
        if off >= len(store) and cnt:
            raise ContentError(f"its {what} is damaged", found="a damaged RPM package")
        if tag not in _RPM_TAGS_READ or tag in tags:
            continue  # read each tag osdepot needs once, and nothing else
        if typ == 6:  # STRING
            end = store.find(b"\x00", off)
            if end < 0:
                raise ContentError(f"its {what} is damaged", found="a damaged RPM package")
            tags[tag] = store[off:end].decode("utf-8", "replace")
        elif typ in (8, 9):  # STRING_ARRAY, I18NSTRING
            # Every entry takes at least one byte of the store: a count beyond what is
            # left of it is damage, not a reason to loop (bounded by the store's size).
            if cnt > len(store) - off:
                raise ContentError(
                    f"its {what} declares {cnt} strings where it has room for {len(store) - off}",
                    found="a damaged RPM package",
                )
            out, pos = [], off
            for n in range(cnt):
                end = store.find(b"\x00", pos)
                if end < 0:
                    raise ContentError(f"its {what} is damaged", found="a damaged RPM package")
                out.append(store[pos:end].decode("utf-8", "replace"))
                pos = end + 1
                if n % 65536 == 65535:
                    src.spend()
            tags[tag] = out
    return tags, offset + 16 + count * 16 + size


def check_rpm(src: Source, *, kernel_module: bool = False) -> Findings:
    lead = src.read_upto(0, 96)
    if len(lead) < 96 or lead[:4] != b"\xed\xab\xee\xdb":
        raise ContentError(f"it has no RPM lead; it is {sniff(src)}", found=sniff(src))
    try:
        _sig, end = _rpm_header(src, 96, "signature header")
        end = (end + 7) & ~7
        tags, _ = _rpm_header(src, end, "header")
    except ValueError:
        raise ContentError("its header is damaged", found="a damaged RPM package") from None
    name = str(tags.get(_RPMTAG_NAME, ""))
    details = {
        "name": name,
        "version": tags.get(_RPMTAG_VERSION),
        "release": tags.get(_RPMTAG_RELEASE),
        "arch": tags.get(_RPMTAG_ARCH),
    }
    if not name:
        raise ContentError("its header names no package", found="a damaged RPM package")
    if kernel_module:
        files = tags.get(_RPMTAG_BASENAMES) or []
        provides = tags.get(_RPMTAG_PROVIDENAME) or []
        modules = [f for f in files if re.search(r"\.ko(\.(xz|gz|zst|bz2))?$", f)]
        kmod = name.startswith("kmod-") or any(str(p).startswith("kmod") for p in provides)
        if not modules and not kmod:
            raise ContentError(
                f"the package {name} contains no kernel module (.ko) and is no kmod package",
                found=f"the RPM package {name}, not a kernel-module package",
            )
        details["modules"] = len(modules)
    return Findings("kernel-module RPM package" if kernel_module else "RPM package", details)


# -- text formats ----------------------------------------------------------------------


def check_json(src: Source) -> Findings:
    raw = _read_text_bytes(src, "JSON document")
    try:
        value = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ContentError("it is not UTF-8 text", found=sniff(src)) from None
    except RecursionError:
        raise ContentError(
            "its values are nested more deeply than a JSON parser can follow",
            found="JSON nested too deeply",
        ) from None
    except json.JSONDecodeError as exc:
        raise ContentError(
            f"it does not parse as JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
            found="malformed JSON" if sniff(src) == "JSON-like text" else sniff(src),
        ) from None
    if not isinstance(value, dict):
        raise ContentError(
            f"its top level is a JSON {type(value).__name__}, not an object",
            found=f"JSON whose top level is a {type(value).__name__}",
        )
    return Findings("JSON object", {"keys": sorted(value)[:20]})


_XML_ROOTS = {"autoyast": ("profile",), "unattend": ("unattend",)}


def check_xml(src: Source, flavour: str) -> Findings:
    raw = _read_text_bytes(src, "XML document")
    try:
        root = SafeET.fromstring(raw, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise ContentError(
            f"it declares a DTD or entities, which are refused ({type(exc).__name__})",
            found="XML with a DTD or entity declarations",
        ) from None
    except SafeET.ParseError as exc:
        raise ContentError(f"it is not well-formed XML ({exc})", found=sniff(src)) from None
    local = root.tag.rsplit("}", 1)[-1]
    want = _XML_ROOTS[flavour]
    if local not in want:
        label = "an AutoYaST profile" if flavour == "autoyast" else "a Windows unattend file"
        raise ContentError(
            f"its root element is <{local}>, but {label} has <{want[0]}>",
            found=f"XML with the root element <{local}>",
        )
    ns = root.tag[1:].split("}")[0] if root.tag.startswith("{") else ""
    return Findings(
        "AutoYaST profile" if flavour == "autoyast" else "Windows unattend file",
        {"root": local, "namespace": ns},
    )


_KS_COMMANDS = frozenset(
    (
        "auth",
        "authconfig",
        "authselect",
        "autopart",
        "autostep",
        "bootloader",
        "btrfs",
        "cdrom",
        "clearpart",
        "cmdline",
        "device",
        "deviceprobe",
        "dmraid",
        "driverdisk",
        "eula",
        "fcoe",
        "firewall",
        "firstboot",
        "graphical",
        "group",
        "halt",
        "harddrive",
        "ignoredisk",
        "install",
        "interactive",
        "iscsi",
        "iscsiname",
        "keyboard",
        "lang",
        "liveimg",
        "logging",
        "logvol",
        "mediacheck",
        "module",
        "monitor",
        "mount",
        "multipath",
        "network",
        "nfs",
        "ostreesetup",
        "part",
        "partition",
        "poweroff",
        "raid",
        "realm",
        "reboot",
        "repo",
        "reqpart",
        "rescue",
        "rootpw",
        "selinux",
        "services",
        "shutdown",
        "skipx",
        "snapshot",
        "sshkey",
        "sshpw",
        "text",
        "timezone",
        "timesource",
        "updates",
        "upgrade",
        "url",
        "user",
        "vnc",
        "volgroup",
        "xconfig",
        "zerombr",
        "zfcp",
        "%packages",
        "%pre",
        "%post",
        "%pre-install",
        "%onerror",
        "%traceback",
        "%addon",
        "%anaconda",
        "%include",
        "%ksappend",
    )
)


#: Character sets a script or kickstart may declare (``# coding: …``), by Python's
#: canonical codec names; besides these, ISO 8859-n and Windows-125n.
TEXT_ENCODINGS = frozenset(
    {
        "utf-8",
        "utf-8-sig",
        "ascii",
        "latin-1",
        "utf-16",
        "utf-16-le",
        "utf-16-be",
        "koi8-r",
        "koi8-u",
        "mac-roman",
        "cp437",
        "cp850",
        "cp866",
        "euc_jp",
        "shift_jis",
        "cp932",
        "euc_kr",
        "gb2312",
        "gbk",
        "gb18030",
        "big5",
    }
)


def _decode_text(raw: bytes, what: str, src: Source) -> str:
    for bom, enc in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if raw.startswith(bom):
            try:
                return raw.decode(enc)
            except UnicodeDecodeError:
                raise ContentError(
                    f"it declares {enc.upper()} by its byte-order mark but is not valid {enc}",
                    found="text in a broken encoding",
                ) from None
    declared = None
    for line in raw.split(b"\n", 2)[:2]:
        m = re.search(rb"coding[:=]\s*([-\w.]+)", line)
        if m and line.lstrip().startswith(b"#"):
            declared = m.group(1).decode("ascii")
    enc = declared or "utf-8"
    if b"\x00" in raw:
        raise ContentError(f"it contains NUL bytes, so it is not a {what}", found=sniff(src))
    try:
        name = codecs.lookup(enc).name
    except LookupError:
        raise ContentError(
            f"it declares the unknown encoding {enc!r}", found="text in an unknown encoding"
        ) from None
    if name not in TEXT_ENCODINGS and not name.startswith(("iso8859-", "cp125")):
        # Python also knows codecs that are not character sets (punycode, idna, rot-13,
        # …), some of them quadratic in the size of the text.
        raise ContentError(
            f"it declares the encoding {enc!r}, which is not a text encoding osdepot reads",
            found="text in an unsupported encoding",
        )
    try:
        return raw.decode(name)
    except UnicodeDecodeError as exc:
        raise ContentError(
            f"it is not text in {enc} (byte {exc.start} cannot be decoded) and declares "
            "no other encoding",
            found=sniff(src),
        ) from None


def check_kickstart(src: Source) -> Findings:
    text = _decode_text(_read_text_bytes(src, "kickstart file"), "kickstart file", src)
    commands = set()
    for line in text.splitlines():
        word = line.strip().split(" ", 1)[0].split("\t", 1)[0]
        if word in _KS_COMMANDS:
            commands.add(word)
    if not commands:
        raise ContentError(
            "no line starts with a kickstart command (such as install, url, lang, rootpw, "
            "part or %packages)",
            found="text without kickstart commands",
        )
    return Findings("kickstart file", {"commands": sorted(commands)})


_SHEBANG = {
    ".sh": ("sh", "bash", "ksh", "zsh", "dash", "ash"),
    ".py": ("python", "python2", "python3"),
    ".pl": ("perl",),
    ".pm": ("perl",),
    ".ps1": ("pwsh", "powershell"),
    ".cmd": (),
}


def check_script(src: Source, filename: str) -> Findings:
    ext = next((e for e in _SHEBANG if filename.lower().endswith(e)), None)
    if ext is None:
        raise ContentError(f"{filename} has no script extension", found="an unknown file")
    text = _decode_text(_read_text_bytes(src, "script"), "script", src)
    first = text.splitlines()[0] if text else ""
    interpreter = None
    if first.startswith("#!"):
        parts = first[2:].strip().split()
        if parts:
            interpreter = posixpath.basename(parts[0])
            if interpreter == "env" and len(parts) > 1:
                interpreter = next((p for p in parts[1:] if not p.startswith("-")), "env")
            allowed = _SHEBANG[ext]
            base = re.sub(r"[\d.]+$", "", interpreter)
            if interpreter not in allowed and base not in allowed:
                wanted = " or ".join(allowed) if allowed else "no interpreter line at all"
                raise ContentError(
                    f"its first line runs {interpreter}, but a {ext} script expects {wanted}",
                    found=f"a {interpreter} script",
                )
    return Findings("script", {"interpreter": interpreter, "lines": text.count("\n") + 1})


_ARMOR = re.compile(
    r"-----BEGIN PGP (SIGNATURE|MESSAGE|PUBLIC KEY BLOCK)-----\r?\n"
    r"((?:[^\r\n:]+: [^\r\n]*\r?\n)*)\r?\n"
    r"([A-Za-z0-9+/=\r\n]+?)"
    r"(?:\r?\n=([A-Za-z0-9+/]{4}))?\r?\n"
    r"-----END PGP \1-----"
)


def _crc24(data: bytes) -> int:
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


def check_asc(src: Source) -> Findings:
    import base64
    import binascii

    raw = _read_text_bytes(src, "PGP armored file")
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise ContentError("it is not ASCII armor", found=sniff(src)) from None
    m = _ARMOR.search(text)
    if m is None:
        raise ContentError(
            "it holds no complete '-----BEGIN PGP …-----' … '-----END PGP …-----' block",
            found=sniff(src),
        )
    try:
        body = base64.b64decode("".join(m.group(3).split()), validate=True)
    except (binascii.Error, ValueError):
        raise ContentError(
            "its armored body is not valid base64", found="damaged PGP armor"
        ) from None
    if not body:
        raise ContentError("its armored body is empty", found="damaged PGP armor")
    if m.group(4):
        want = int.from_bytes(base64.b64decode(m.group(4)), "big")
        if _crc24(body) != want:
            raise ContentError("its armor checksum (CRC-24) is wrong", found="damaged PGP armor")
    return Findings(f"PGP {m.group(1).lower()} (ASCII armor)", {"bytes": len(body)})
