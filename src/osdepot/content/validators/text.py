"""Checks of text files: JSON, XML (AutoYaST, unattend; parsed with defusedxml, no
DTDs, no entities), kickstart files, scripts and PGP armor. Text is decoded
strictly, in the encodings of TEXT_ENCODINGS."""

from __future__ import annotations

import codecs
import json
import posixpath
import re

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from osdepot.content.source import ContentError, Source
from osdepot.content.validators.findings import Findings, sniff
from osdepot.domain.text import NestedTooDeeply, strict_json

MAX_TEXT = 64 << 20  # JSON, XML, kickstart, scripts, signatures


def _read_text_bytes(src: Source, what: str) -> bytes:
    if src.size == 0:
        raise ContentError(f"the file is empty; a {what} is expected", found="an empty file")
    if src.size > MAX_TEXT:
        raise ContentError(
            f"it is {src.size} bytes, more than a {what} can be ({MAX_TEXT} bytes)",
            found="a file too large for its type",
        )
    return src.read(0, src.size, what)


# -- text formats ----------------------------------------------------------------------


def check_json(src: Source) -> Findings:
    raw = _read_text_bytes(src, "JSON document")
    try:
        value = strict_json(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ContentError("it is not UTF-8 text", found=sniff(src)) from None
    except NestedTooDeeply:
        raise ContentError(
            "its values are nested more deeply than a JSON parser can follow",
            found="JSON nested too deeply",
        ) from None
    except json.JSONDecodeError as exc:
        raise ContentError(
            f"it does not parse as JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
            found="malformed JSON" if sniff(src) == "JSON-like text" else sniff(src),
        ) from None
    except ValueError as exc:  # NaN, Infinity: Python's, not JSON's
        raise ContentError(f"it does not parse as JSON: {exc}", found="malformed JSON") from None
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
            # (not re.sub(r"[\d.]+$", …): that took the square of a long run of digits)
            base = interpreter.rstrip("0123456789.")
            if len(interpreter) > 64 or (interpreter not in allowed and base not in allowed):
                wanted = " or ".join(allowed) if allowed else "no interpreter line at all"
                shown = interpreter if len(interpreter) <= 64 else interpreter[:64] + "…"
                raise ContentError(
                    f"its first line runs {shown}, but a {ext} script expects {wanted}",
                    found=f"a {shown} script",
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
