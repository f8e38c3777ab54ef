"""Small, valid files of every kind the repository takes (built in memory)."""

from __future__ import annotations

import base64
import io
import json
import struct
import tarfile
import zipfile
from collections.abc import Callable
from typing import IO, Any

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
    "OSPROFILE": ("custom.tar.gz", {}, b""),  # made below: a profile of rhels9.4
    "SCRIPT": ("post.sh", {"os": "rhel"}, b"#!/bin/bash\necho configured\n"),
    "SOFTWARE": ("agent.zip", {"os": "windows"}, zip_bytes({"agent/setup.exe": b"MZ" * 100})),
    "UNATTEND": ("ks.ks", {"os": "rhel"}, KICKSTART),
}


def profile_archive(
    image_id: str = "rhels9.4",
    name: str = "web",
    files: dict[str, tuple[str, str, bytes]] | None = None,
    medium_sha256: str = "",
    tamper: Any = None,
) -> bytes:
    """An exported profile's archive as osdepot writes it: a customised ``name``
    profile of ``image_id`` holding ``files`` (id → (type, file name, bytes)), made
    with the server's own writer. ``tamper(definition, members)`` may change them."""
    import hashlib

    from osdepot.content.profile_archive import Member, member_path, write_archive
    from osdepot.domain.images import ImageType, OsKind
    from osdepot.domain.profiles import custom_profile_id, options_json

    files = files if files is not None else {"post.sh": ("SCRIPT", "post.sh", VALID["SCRIPT"][2])}
    definition: dict[str, Any] = {
        "profile": {
            "id": custom_profile_id(image_id, "x86_64", name),
            "name": name,
            "description": "made by the tests",
            "profile": "Basic",
            "baseProfile": f"{image_id}|{image_id}-x86_64-install-Basic",
        },
        "osImage": {"id": image_id, "name": image_id, "sha256": medium_sha256},
        "customizationOptions": options_json(
            OsKind.LINUX, [(fid, ImageType(t)) for fid, (t, _n, _c) in files.items()]
        ),
    }
    members = [
        (
            Member(
                member_path(n, fname),
                len(data),
                hashlib.sha256(data).hexdigest(),
                {"id": fid, "type": t, "name": fname, "os": "rhel"},
            ),
            data,
        )
        for n, (fid, (t, fname, data)) in enumerate(files.items(), 1)
    ]
    if tamper is not None:
        tamper(definition, members)

    def opener(data: bytes) -> Callable[[], IO[bytes]]:
        return lambda: io.BytesIO(data)

    buf = io.BytesIO()
    write_archive(buf, definition, [(m, opener(d)) for m, d in members], 1_700_000_000)
    return buf.getvalue()


VALID["OSPROFILE"] = ("custom.tar.gz", {}, profile_archive())
