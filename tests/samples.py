"""Small, valid files of every kind the repository takes (built in memory)."""

from __future__ import annotations

import base64
import io
import json
import struct
import tarfile
import zipfile

from osdepot.content.validators.text import _crc24


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def tar_gz_bytes(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        for name, target in (links or {}).items():
            ti = tarfile.TarInfo(name)
            ti.type = tarfile.SYMTYPE
            ti.linkname = target
            tf.addfile(ti)
    return buf.getvalue()


def _rpm_header(tags: list[tuple[int, int, bytes, int]]) -> bytes:
    index = b""
    store = b""
    for tag, typ, data, count in tags:
        index += struct.pack(">IIII", tag, typ, len(store), count)
        store += data
    return (
        b"\x8e\xad\xe8\x01\x00\x00\x00\x00"
        + struct.pack(">II", len(tags), len(store))
        + (index + store)
    )


def rpm_bytes(name: str = "kmod-bnxt_en", files: tuple[str, ...] = ("bnxt_en.ko.xz",)) -> bytes:
    lead = b"\xed\xab\xee\xdb\x03\x00\x00\x00" + b"\x00" * 88
    sig = _rpm_header([(1000, 4, struct.pack(">I", 0), 1)])
    sig += b"\x00" * ((8 - len(sig) % 8) % 8)
    strs = [
        (1000, 6, name.encode() + b"\x00", 1),
        (1001, 6, b"1.10\x00", 1),
        (1002, 6, b"1.el9\x00", 1),
        (1022, 6, b"x86_64\x00", 1),
    ]
    if files:
        strs.append((1117, 8, b"".join(f.encode() + b"\x00" for f in files), len(files)))
    return lead + sig + _rpm_header(strs) + b"\x1f\x8b payload"


def asc_bytes(body: bytes = b"\x89\x01\x33signature-bytes") -> bytes:
    b64 = base64.b64encode(body).decode()
    crc = base64.b64encode(_crc24(body).to_bytes(3, "big")).decode()
    return (
        f"-----BEGIN PGP SIGNATURE-----\n\n{b64}\n={crc}\n-----END PGP SIGNATURE-----\n"
    ).encode()


KICKSTART = b"""#version=RHEL9
lang en_US.UTF-8
keyboard us
timezone UTC --utc
rootpw --lock
autopart
%packages
@^minimal-environment
%end
"""

AUTOYAST = b"""<?xml version="1.0"?>
<profile xmlns="http://www.suse.com/1.0/yast2ns"
         xmlns:config="http://www.suse.com/1.0/configns">
  <general><mode><confirm config:type="boolean">false</confirm></mode></general>
</profile>
"""

UNATTEND = b"""<?xml version="1.0" encoding="utf-8"?>
<unattend xmlns="urn:schemas-microsoft-com:unattend">
  <settings pass="windowsPE"/>
</unattend>
"""

CONFIG = json.dumps({"network": {"dhcp": True}}).encode()

#: imageType → (file name, query, content) of a valid file of that type
VALID = {
    "BOOT": (
        "WinPE_64.zip",
        {"os": "windows", "osrelease": "2016"},
        zip_bytes({"media/sources/boot.wim": b"MSWIM\x00\x00\x00" + b"\x00" * 200}),
    ),
    "BUNDLE": ("bundle_win2016.zip", {}, zip_bytes({"bundle.xml": b"<bundle/>"})),
    "CONFIG": ("settings.json", {"os": "rhel"}, CONFIG),
    "DUD": ("bnxt.rpm", {"os": "rhel"}, rpm_bytes()),
    "OSPROFILE": ("custom.tar.gz", {}, tar_gz_bytes({"profile/custom.json": b"{}"})),
    "SCRIPT": ("post.sh", {"os": "rhel"}, b"#!/bin/bash\necho configured\n"),
    "SOFTWARE": ("agent.zip", {"os": "windows"}, zip_bytes({"agent/setup.exe": b"MZ" * 100})),
    "UNATTEND": ("ks.ks", {"os": "rhel"}, KICKSTART),
}
